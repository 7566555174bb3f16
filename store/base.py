"""The store contract: a writer (:class:`Store`) and a reader (:class:`Reader`).

Ingest writes readings, the KPI write-back writes computed points, the analytics
read one window of series per machine. Every backend implements both sides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import SecretStr

from telemetry.codec import Message
from telemetry.layout import Point
from telemetry.lineprotocol import message_lines, point_line
from telemetry.topic import MachinePath

if TYPE_CHECKING:
    from store.series import MachineData, SensorSeries


@dataclass(frozen=True, slots=True)
class StoreEndpoint:
    kind: str
    """The backend's ``KIND``: ``sqlite``, ``influxdb`` or ``influxdb2``."""
    path: Path | None = None
    host: str | None = None
    port: int | None = None
    database: str | None = None
    """The InfluxDB database, or the bucket (``influxdb2://``)."""
    tls: bool = False
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    org: str | None = None
    """InfluxDB 2.x organisation (``influxdb2://``)."""

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def __str__(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.path}"
        user = f"{self.username}:***@" if self.username else ""
        scheme = self.kind + ("s" if self.tls else "")
        org = f"?org={self.org}" if self.org else ""
        return f"{scheme}://{user}{self.host}:{self.port}/{self.database}{org}"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A rejected message with its reason; ``payload`` kept up to a limit (its full size is
    ``payload_bytes``). ``id`` (:func:`letter_id`) and ``source`` (the ingest process that
    kept it) are set by the store."""

    topic: str
    payload: bytes
    error: str
    stage: Literal["decode", "store"] = "decode"
    received_ms: int = 0
    id: int | None = None
    payload_bytes: int = 0
    truncated: bool = False
    source: str = ""


def kept(letter: DeadLetter, *, source: str, limit: int, now_ms: int) -> DeadLetter:
    """The letter as a store keeps it: its id, who kept it, the payload up to ``limit``
    bytes (its full size noted) and when it was received."""
    return replace(
        letter,
        id=letter_id(letter.topic, letter.payload),
        source=source,
        payload=letter.payload[:limit],
        payload_bytes=len(letter.payload),
        truncated=len(letter.payload) > limit,
        received_ms=letter.received_ms or now_ms,
    )


class DeadLetters(Protocol):
    """The dead letters of every ingest process that writes to the same store."""

    async def add(self, letters: Sequence[DeadLetter]) -> None: ...

    async def newest(self, limit: int) -> list[DeadLetter]: ...

    async def get(self, ids: Sequence[int]) -> list[DeadLetter]: ...

    async def ids(self) -> list[int]: ...

    async def count(self) -> int: ...

    async def remove(self, ids: Sequence[int]) -> None: ...

    async def set_error(self, letter: DeadLetter, error: str) -> None: ...


def letter_id(topic: str, payload: bytes) -> int:
    """A dead letter's id, from its content: the same message rejected twice (redelivered
    after a crash, sent again by a device, rejected by two processes) is kept once. 52 bits,
    so that InfluxDB can hold it as a time in microseconds (1970 to 2112)."""
    digest = hashlib.sha256(topic.encode("utf-8", "surrogateescape") + b"\0" + payload).digest()
    return int.from_bytes(digest[:7], "big") >> 4


class Store(Protocol):
    """Where validated readings go. ``write`` returns only once they are durable."""

    async def open(self) -> None: ...

    async def write(self, messages: Sequence[Message]) -> int:
        """Store every reading of ``messages``; return the number of readings written.

        Raises :class:`store.errors.StoreError` with ``action`` ``retry`` or ``drop``.
        """
        ...

    async def write_points(self, points: Sequence[Point]) -> int:
        """Store computed points (same tags and time: replaced)."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...

    def deadletters(self, *, source: str, max_payload_bytes: int) -> DeadLetters:
        """The dead letters kept in this store (usable once the store is open); new ones
        are marked with ``source`` and their payload kept up to ``max_payload_bytes``."""
        ...


class Reader(Protocol):
    """One window of every machine's series; raises :class:`store.errors.ReaderError`."""

    async def read(self, start_ms: int, end_ms: int) -> dict[MachinePath, MachineData]: ...

    async def read_sensor(
        self, name: str, start_ms: int, end_ms: int
    ) -> dict[MachinePath, SensorSeries]: ...


class LineProtocolStore:
    """The InfluxDB writers: readings and computed points both go out as line protocol."""

    async def write(self, messages: Sequence[Message]) -> int:
        lines: list[str] = []
        for m in messages:
            lines.extend(message_lines(m))
        return await self._write_lines(lines)

    async def write_points(self, points: Sequence[Point]) -> int:
        return await self._write_lines([point_line(p) for p in points])

    async def _write_lines(self, lines: list[str], precision: str = "ms") -> int:
        raise NotImplementedError
