"""The store's exceptions, and how a failure is sorted: retry later, or drop the batch."""

from __future__ import annotations

from typing import Literal

from core.errors import FactoryError

DROP_STATUSES = frozenset({400, 413, 422})
"""HTTP statuses where retrying cannot help: the batch itself is wrong."""


class StoreError(FactoryError):
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

    @classmethod
    def from_status(
        cls, status: int, message: str, *, retry_after_header: str | None = None
    ) -> StoreError:
        """A refused HTTP write: dropped when the batch is wrong, else retried."""
        if status in DROP_STATUSES:
            return cls(message, action="drop")
        return cls(message, action="retry", retry_after_s=retry_after(retry_after_header))


class ReaderError(FactoryError):
    """The store could not be read; the message says what to check."""


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form), capped at 5 minutes."""
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), 300.0)
    except ValueError:
        return None


def unreachable(base_url: str, exc: BaseException) -> str:
    """The one message for a server that does not answer."""
    return f"cannot reach InfluxDB at {base_url}: {exc or type(exc).__name__}"
