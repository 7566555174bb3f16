"""The ingest service: MQTT -> validate -> store, acknowledging only what is stored."""

from ingest.config import IngestConfig
from ingest.errors import IngestError, StoreError
from ingest.service import IngestService, IngestStats
from ingest.store import Store, open_store

__all__ = [
    "IngestConfig",
    "IngestError",
    "IngestService",
    "IngestStats",
    "Store",
    "StoreError",
    "open_store",
]
