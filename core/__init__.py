"""What every package may use, importing nothing of ours: the error base (``errors``), the
plant's clock (``clock``), capped backoff (``backoff``), ``/metrics`` and ``/healthz``
(``metrics``), and the languages of what people read (``i18n``)."""
