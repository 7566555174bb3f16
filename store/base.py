"""The store contract: a writer (:class:`Store`) and a reader (:class:`Reader`).

Ingest writes readings, the KPI write-back writes computed points, the analytics
read one window of series per machine. Every backend implements both sides.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import SecretStr

from store.errors import StoreError
from telemetry.codec import Message
from telemetry.layout import CHANGES, Point, Table
from telemetry.lineprotocol import message_lines, point_line
from telemetry.topic import MachinePath

log = logging.getLogger(__name__)

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


HOLD_MS = 30_000
"""How far ahead a change mark runs: readings of its bucket may arrive until then."""
BUCKET_MS = 300_000
"""Change marks are per 5 minutes of device time: a live stream's mark reaches back from
its own 5 minutes only, not from the start of its hour."""


class ChangeMarks:
    """The change marks one writer owes the store (``telemetry.layout.CHANGES``).

    Before a batch is written, each 5-minute bucket of device time it holds gets a mark
    saying "readings of this bucket may arrive until T" (T a little ahead), written with
    the batch; a mark is renewed only when T comes near, so a live stream costs a mark per
    bucket every ``renew_ms``, not one per batch. After the write, a bucket whose T has
    passed meanwhile (a slow write) is marked again. An account computed after every mark
    that reaches its period expired is current; the aggregation recomputes what marks
    reach (:mod:`analytics.oee.stored`)."""

    def __init__(self, writer: str, *, hold_ms: int = HOLD_MS, renew_ms: int = 20_000) -> None:
        self.writer = writer
        self.hold_ms = hold_ms
        self.renew_ms = renew_ms
        self._until: dict[int, int] = {}

    @staticmethod
    def buckets(messages: Sequence[Message]) -> dict[int, int]:
        """Readings per bucket (epoch ms of its start) in a batch."""
        out: dict[int, int] = {}
        for m in messages:
            ts = [r.ts for r in m.readings]
            if not ts:
                continue
            lo, hi = min(ts) // BUCKET_MS, max(ts) // BUCKET_MS
            if lo == hi:
                out[lo * BUCKET_MS] = out.get(lo * BUCKET_MS, 0) + len(ts)
            else:
                for t in ts:
                    b = t // BUCKET_MS * BUCKET_MS
                    out[b] = out.get(b, 0) + 1
        return out

    def before(self, buckets: dict[int, int], now_ms: int) -> list[tuple[int, int, int]]:
        """(bucket, until, readings) marks to write with the batch."""
        due = []
        for bucket, n in buckets.items():
            if self._until.get(bucket, 0) - now_ms < self.hold_ms - self.renew_ms:
                self._until[bucket] = now_ms + self.hold_ms
                due.append((bucket, now_ms + self.hold_ms, n))
        if len(self._until) > 10_000:  # forget long-expired buckets
            self._until = {h: u for h, u in self._until.items() if u > now_ms}
        return due

    def after(self, buckets: dict[int, int], now_ms: int) -> list[tuple[int, int, int]]:
        """Marks to write once the batch is stored, for buckets whose mark ran out meanwhile."""
        late = [(h, n) for h, n in buckets.items() if self._until.get(h, 0) <= now_ms]
        for bucket, _ in late:
            self._until[bucket] = now_ms + self.hold_ms
        return [(h, now_ms + self.hold_ms, n) for h, n in late]

    def release(self, now_ms: int) -> list[tuple[int, int, int]]:
        """A writer that stops writes no more: its open marks end now (written at close, with
        the marks that run beyond now removed), so the accounts can be current at once."""
        open_buckets = [b for b, u in self._until.items() if u > now_ms]
        for bucket in open_buckets:
            self._until[bucket] = now_ms
        return [(b, now_ms, 0) for b in open_buckets]


def writer_name() -> str:
    """This process, as the ``writer`` of its change marks."""
    import os
    import socket

    return f"{socket.gethostname()}-{os.getpid()}"


def change_points(writer: str, marks: Sequence[tuple[int, int, int]]) -> list[Point]:
    return [
        Point(CHANGES, {"writer": writer, "bucket": str(bucket)}, until, {"readings": n})
        for bucket, until, n in marks
    ]


@dataclass(frozen=True, slots=True)
class AccountRow:
    """A stored period account (a row of ``analytics.oee.stored.ACCOUNT``, read by
    :meth:`Reader.read_accounts`)."""

    path: MachinePath
    period: str
    start_ms: int
    end_ms: int
    computed_ms: int
    entry: str


@dataclass(frozen=True, slots=True)
class Row:
    """A row of a table of computed points (alerts, notifications, reasons, forecasts): its tags,
    time and the fields that have a value."""

    tags: dict[str, str]
    ts_ms: int
    fields: dict[str, Any]


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

    async def remove_changes(self, through_ms: int) -> None:
        """Drop the change marks that expired at or before ``through_ms`` (accounted for)."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...

    def deadletters(self, *, source: str, max_payload_bytes: int) -> DeadLetters:
        """The dead letters kept in this store (usable once the store is open); new ones
        are marked with ``source`` and their payload kept up to ``max_payload_bytes``."""
        ...


class Reader(Protocol):
    """One window of every machine's series; raises :class:`store.errors.ReaderError`."""

    async def read(
        self, start_ms: int, end_ms: int, *, energy: bool = True
    ) -> dict[MachinePath, MachineData]:
        """Every machine's readings in ``[start_ms, end_ms]`` (``energy``: the meters' too;
        without, machines only and no energy series)."""
        ...

    async def read_sensor(
        self, name: str, start_ms: int, end_ms: int
    ) -> dict[MachinePath, SensorSeries]: ...

    async def read_accounts(
        self, table: Table, period: str, start_ms: int, end_ms: int
    ) -> list[AccountRow]:
        """The stored accounts of ``period`` ("hour", "day") in ``table`` (tags: a machine's
        and ``period``; fields ``end_ms``, ``computed_ms``, ``entry``) that start in
        [start, end). A typed read, not :meth:`read_rows`: a month of a large plant is
        hundreds of thousands of rows."""
        ...

    async def read_changes(self, after_ms: int) -> list[tuple[int, int]]:
        """(bucket, until) of the change marks that expire after ``after_ms``."""
        ...

    async def read_rows(
        self, table: Table, start_ms: int, end_ms: int, where: Mapping[str, str] | None = None
    ) -> list[Row]:
        """The rows of ``table`` stamped in [start, end) whose tags equal ``where``'s, in
        time order."""
        ...


class LineProtocolStore:
    """The InfluxDB writers: readings and computed points both go out as line protocol;
    the change marks of a batch go in the same request, before its readings."""

    marks: ChangeMarks

    async def write(self, messages: Sequence[Message]) -> int:
        buckets = ChangeMarks.buckets(messages)
        due = self.marks.before(buckets, int(time.time() * 1000))
        lines = [point_line(p) for p in change_points(self.marks.writer, due)]
        for m in messages:
            lines.extend(message_lines(m))
        written = await self._write_lines(lines) - len(due)
        late = self.marks.after(buckets, int(time.time() * 1000))
        if late:
            await self._write_lines([point_line(p) for p in change_points(self.marks.writer, late)])
        return written

    async def write_points(self, points: Sequence[Point]) -> int:
        return await self._write_lines([point_line(p) for p in points])

    async def _release_marks(self) -> None:
        """At close: this writer's open marks end now (:meth:`ChangeMarks.release`): the
        ended marks are written, then the ones that ran beyond now removed."""
        now = int(time.time() * 1000)
        released = self.marks.release(now)
        if not released:
            return
        try:
            await self._write_lines(
                [point_line(p) for p in change_points(self.marks.writer, released)]
            )
            await self._delete_marks_after(now)
        except StoreError as exc:  # they run out by themselves within seconds
            log.warning("could not release change marks: %s", exc)

    async def _delete_marks_after(self, now_ms: int) -> None:
        raise NotImplementedError

    async def _write_lines(self, lines: list[str], precision: str = "ms") -> int:
        raise NotImplementedError
