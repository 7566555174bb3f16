"""The ingest service: MQTT -> validate -> store, acknowledging only what is stored.

Modules: ``config`` (settings), ``subscriber`` (MQTT with manual acks), ``service``
(batching and acknowledgement), ``store`` (the contract), ``sqlite_store`` and
``influx_v1`` (writers), ``deadletter`` (rejected messages). Nothing is imported
here, so that reading the configuration needs none of the service's dependencies.
"""
