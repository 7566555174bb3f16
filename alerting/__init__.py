"""Alerts and their notifications: settings ``[alerts]`` (``config``), the rules and their
evaluation (``rules``), a stored alert and its life (``state``), the notifications and their
delivery (``notifier``), and the loop ``factory aggregate`` runs (``service``)."""
