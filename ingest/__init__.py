"""The ingest service: MQTT -> validate -> store, acknowledging only what is stored.

Modules: ``config`` (settings), ``subscriber`` (MQTT with manual acks), ``service``
(batching and acknowledgement), ``deadletter`` (rejected messages), ``errors``. The
store it writes to is the :mod:`store` package. Nothing is imported here, so that
reading the configuration needs none of the service's dependencies.
"""
