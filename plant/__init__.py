"""The plant, as its people describe it: sites, areas, lines, machines and main meters, the
shift calendar and holidays (``model``), the production plan (``plan``), the energy tariff
(``tariff``) and the OEE account with its definitions (``oee``). A leaf above the wire: it
imports only ``core`` and ``telemetry``."""
