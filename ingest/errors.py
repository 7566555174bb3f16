"""The ingest service's exceptions."""

from typing import Literal


class IngestError(Exception):
    """Base of the ingest service's errors."""


class StoreError(IngestError):
    """A write that failed. ``action`` sorts it: ``retry`` later, or ``drop`` to dead letters."""

    def __init__(
        self,
        message: str,
        *,
        action: Literal["retry", "drop"],
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.action = action
        self.retry_after_s = retry_after_s
        """The server's ``Retry-After``, when it sent one."""


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form), capped at 5 minutes."""
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), 300.0)
    except ValueError:
        return None


class BrokerAuthError(IngestError):
    """The broker refused our credentials: retrying cannot help, so the service stops."""


class BrokerError(IngestError):
    """The broker could not be reached or refused us."""
