"""The ingest service's exceptions."""

from typing import Literal


class IngestError(Exception):
    """Base of the ingest service's errors."""


class StoreError(IngestError):
    """A write that failed. ``action`` sorts it: ``retry`` later, or ``drop`` to dead letters."""

    def __init__(self, message: str, *, action: Literal["retry", "drop"]) -> None:
        super().__init__(message)
        self.action = action


class BrokerError(IngestError):
    """The broker could not be reached or refused us."""
