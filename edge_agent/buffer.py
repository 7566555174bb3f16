"""The durable buffer between the source and the publisher.

A message (a batch of readings of one machine and channel, already encoded)
enters the buffer in one SQLite transaction and leaves it only after the
broker's PUBACK. The buffer is bounded by bytes and by age (how long a message has waited in
the buffer, by the gateway's clock, not the device's); when it is full the
declared policy applies and every reading it drops is counted, persistently.

``synchronous`` and power loss (SQLite in WAL mode):

- ``FULL`` (default): every committed put is on disk before the source moves on;
  a power cut loses nothing that was acknowledged to the source. Costs one fsync
  per put (the agent puts one transaction per source chunk, not per reading).
- ``NORMAL``: a commit survives a crash of the agent (kill -9), but a power cut
  may lose the last transactions before the WAL was synced; the database stays
  consistent.
- ``OFF``: no fsync at all; a power cut may corrupt the database. Only for tests.
"""

from __future__ import annotations

import sqlite3
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

DropPolicy = Literal["drop_oldest", "reject_new"]
Synchronous = Literal["FULL", "NORMAL", "OFF"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One buffered MQTT message."""

    id: int
    topic: str
    payload: bytes
    count: int
    first_ts_ms: int
    last_seq: int
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class NewEntry:
    topic: str
    payload: bytes
    count: int
    first_ts_ms: int
    last_seq: int
    last_ts_ms: int


@dataclass(slots=True)
class BufferStats:
    messages: int = 0
    readings: int = 0
    bytes: int = 0
    oldest_ts_ms: int | None = None
    """When the oldest waiting message entered the buffer (gateway clock, epoch ms)."""
    dropped_readings: int = 0
    dropped_messages: int = 0


class Buffer(Protocol):
    """What the agent needs from a buffer; durable or in memory."""

    def put(self, entries: Sequence[NewEntry]) -> int:
        """Add entries in one transaction; return how many readings were refused."""
        ...

    def peek(self, after_id: int, limit: int) -> list[Entry]:
        """The oldest entries with id > ``after_id``, in FIFO order."""
        ...

    def ack(self, ids: Iterable[int]) -> None: ...

    def expire(self, now_ms: int | None = None) -> int:
        """Drop entries older than the age bound; return readings dropped."""
        ...

    def last_seqs(self) -> dict[str, tuple[int, int]]:
        """Per topic, the last (seq, ts) ever buffered (to resume a source after a restart)."""
        ...

    def stats(self) -> BufferStats: ...

    def close(self) -> None: ...


_DDL = (
    "CREATE TABLE IF NOT EXISTS outbox ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL,"
    " count INTEGER NOT NULL, first_ts_ms INTEGER NOT NULL, last_seq INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS checkpoint (topic TEXT PRIMARY KEY, last_seq INTEGER NOT NULL,"
    " last_ts_ms INTEGER NOT NULL)",
)


class SQLiteBuffer:
    """The durable buffer. One connection, used from one thread at a time."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 512 * 1024 * 1024,
        max_age_s: float = 7 * 24 * 3600,
        policy: DropPolicy = "drop_oldest",
        synchronous: Synchronous = "FULL",
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.policy = policy
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        for statement in _DDL:
            self._db.execute(statement)
        self._load_counts()

    def _counter(self, name: str) -> int:
        row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def _count_drops(self, messages: int, readings: int) -> None:
        self._dropped_messages += messages
        self._dropped_readings += readings
        self._db.executemany(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            [
                ("dropped_messages", self._dropped_messages),
                ("dropped_readings", self._dropped_readings),
            ],
        )

    def _drop_oldest(self, need_bytes: int) -> None:
        """Delete the oldest entries until ``need_bytes`` more fit (inside a transaction)."""
        freed = messages = readings = 0
        cursor = self._db.execute("SELECT id, count, length(payload) FROM outbox ORDER BY id")
        last_id = None
        for row_id, count, size in cursor:
            if self._bytes - freed + need_bytes <= self.max_bytes:
                break
            freed += size
            messages += 1
            readings += count
            last_id = row_id
        if last_id is not None:
            self._db.execute("DELETE FROM outbox WHERE id <= ?", (last_id,))
            self._bytes -= freed
            self._messages -= messages
            self._readings -= readings
            self._count_drops(messages, readings)
            self._oldest = None if self._messages == 0 else self._oldest_ts()

    def _oldest_ts(self) -> int | None:
        """When the head of the queue entered the buffer."""
        row = self._db.execute("SELECT created_ms FROM outbox ORDER BY id LIMIT 1").fetchone()
        return None if row is None else int(row[0])

    def put(self, entries: Sequence[NewEntry]) -> int:
        refused = 0
        now = int(time.time() * 1000)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            rows: list[tuple[str, bytes, int, int, int]] = []
            pending = 0
            checkpoints: dict[str, tuple[int, int]] = {}
            for e in entries:
                size = len(e.payload)
                checkpoints[e.topic] = (e.last_seq, e.last_ts_ms)
                if self._bytes + pending + size > self.max_bytes:
                    if self.policy == "reject_new" or size > self.max_bytes:
                        refused += e.count
                        self._count_drops(1, e.count)
                        continue
                    if rows:
                        self._insert(rows, now)
                        rows, pending = [], 0
                    self._drop_oldest(size)
                rows.append((e.topic, e.payload, e.count, e.first_ts_ms, e.last_seq))
                pending += size
            if rows:
                self._insert(rows, now)
            self._db.executemany(
                "INSERT INTO checkpoint (topic, last_seq, last_ts_ms) VALUES (?, ?, ?) "
                "ON CONFLICT(topic) DO UPDATE SET last_seq = excluded.last_seq, "
                "last_ts_ms = excluded.last_ts_ms",
                [(t, q, ts) for t, (q, ts) in checkpoints.items()],
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._load_counts()
            raise
        return refused

    def _load_counts(self) -> None:
        """Counters from the file: at start, and after a failed transaction."""
        row = self._db.execute(
            "SELECT count(*), coalesce(sum(count), 0), coalesce(sum(length(payload)), 0) "
            "FROM outbox"
        ).fetchone()
        self._messages, self._readings, self._bytes = row
        self._oldest = self._oldest_ts()
        self._dropped_readings = self._counter("dropped_readings")
        self._dropped_messages = self._counter("dropped_messages")

    def _insert(self, rows: list[tuple[str, bytes, int, int, int]], now: int) -> None:
        self._db.executemany(
            "INSERT INTO outbox (topic, payload, count, first_ts_ms, last_seq, created_ms) "
            f"VALUES (?, ?, ?, ?, ?, {now})",
            rows,
        )
        self._messages += len(rows)
        self._readings += sum(r[2] for r in rows)
        self._bytes += sum(len(r[1]) for r in rows)
        if self._oldest is None:
            self._oldest = now

    def peek(self, after_id: int, limit: int) -> list[Entry]:
        return [
            Entry(*row)
            for row in self._db.execute(
                "SELECT id, topic, payload, count, first_ts_ms, last_seq FROM outbox "
                "WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            )
        ]

    def ack(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        if not ids:
            return
        messages = readings = size = 0
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for i in range(0, len(ids), 500):
                part = ids[i : i + 500]
                marks = ",".join("?" * len(part))
                n, r, b = self._db.execute(
                    "SELECT count(*), coalesce(sum(count), 0), coalesce(sum(length(payload)), 0) "
                    f"FROM outbox WHERE id IN ({marks})",
                    part,
                ).fetchone()
                self._db.execute(f"DELETE FROM outbox WHERE id IN ({marks})", part)
                messages, readings, size = messages + n, readings + r, size + b
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._messages -= messages
        self._readings -= readings
        self._bytes -= size
        self._oldest = None if self._messages == 0 else self._oldest_ts()

    def expire(self, now_ms: int | None = None) -> int:
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        cutoff = now_ms - int(self.max_age_s * 1000)
        if self._oldest is None or self._oldest >= cutoff:
            return 0
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute(
                "SELECT count(*), coalesce(sum(count), 0), coalesce(sum(length(payload)), 0) "
                "FROM outbox WHERE created_ms < ?",
                (cutoff,),
            ).fetchone()
            self._db.execute("DELETE FROM outbox WHERE created_ms < ?", (cutoff,))
            self._count_drops(row[0], row[1])
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._messages -= row[0]
        self._readings -= row[1]
        self._bytes -= row[2]
        self._oldest = None if self._messages == 0 else self._oldest_ts()
        return int(row[1])

    def last_seqs(self) -> dict[str, tuple[int, int]]:
        return {
            t: (int(q), int(ts))
            for t, q, ts in self._db.execute("SELECT topic, last_seq, last_ts_ms FROM checkpoint")
        }

    def stats(self) -> BufferStats:
        return BufferStats(
            messages=self._messages,
            readings=self._readings,
            bytes=self._bytes,
            oldest_ts_ms=self._oldest,
            dropped_readings=self._dropped_readings,
            dropped_messages=self._dropped_messages,
        )

    def close(self) -> None:
        self._db.close()


class MemoryBuffer:
    """The same contract in memory (``buffer = "memory"``): fast, lost on a crash."""

    def __init__(
        self,
        *,
        max_bytes: int = 64 * 1024 * 1024,
        max_age_s: float = 7 * 24 * 3600,
        policy: DropPolicy = "drop_oldest",
    ) -> None:
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.policy = policy
        self._items: deque[Entry] = deque()
        self._index: dict[int, Entry] = {}
        self._next_id = 1
        self._stats = BufferStats()
        self._checkpoint: dict[str, tuple[int, int]] = {}

    def _remove(self, entry: Entry) -> None:
        self._index.pop(entry.id, None)
        self._stats.messages -= 1
        self._stats.readings -= entry.count
        self._stats.bytes -= len(entry.payload)

    def put(self, entries: Sequence[NewEntry]) -> int:
        refused = 0
        now = int(time.time() * 1000)
        for e in entries:
            self._checkpoint[e.topic] = (e.last_seq, e.last_ts_ms)
            size = len(e.payload)
            if self._stats.bytes + size > self.max_bytes:
                if self.policy == "reject_new" or size > self.max_bytes:
                    refused += e.count
                    self._stats.dropped_readings += e.count
                    self._stats.dropped_messages += 1
                    continue
                while self._items and self._stats.bytes + size > self.max_bytes:
                    old = self._items.popleft()
                    if old.id in self._index:
                        self._remove(old)
                        self._stats.dropped_readings += old.count
                        self._stats.dropped_messages += 1
            entry = Entry(
                self._next_id, e.topic, e.payload, e.count, e.first_ts_ms, e.last_seq, now
            )
            self._next_id += 1
            self._items.append(entry)
            self._index[entry.id] = entry
            self._stats.messages += 1
            self._stats.readings += e.count
            self._stats.bytes += size
        return refused

    def peek(self, after_id: int, limit: int) -> list[Entry]:
        out = []
        for entry in self._items:
            if entry.id > after_id and entry.id in self._index:
                out.append(entry)
                if len(out) >= limit:
                    break
        return out

    def ack(self, ids: Iterable[int]) -> None:
        for i in ids:
            entry = self._index.get(i)
            if entry is not None:
                self._remove(entry)
        while self._items and self._items[0].id not in self._index:
            self._items.popleft()

    def expire(self, now_ms: int | None = None) -> int:
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        cutoff = now_ms - int(self.max_age_s * 1000)
        dropped = 0
        for entry in list(self._index.values()):
            if entry.created_ms < cutoff:
                self._remove(entry)
                self._stats.dropped_readings += entry.count
                self._stats.dropped_messages += 1
                dropped += entry.count
        self.ack(())
        return dropped

    def last_seqs(self) -> dict[str, tuple[int, int]]:
        return dict(self._checkpoint)

    def stats(self) -> BufferStats:
        s = self._stats
        oldest = min((e.created_ms for e in self._index.values()), default=None)
        return BufferStats(
            s.messages, s.readings, s.bytes, oldest, s.dropped_readings, s.dropped_messages
        )

    def close(self) -> None:
        self._items.clear()
        self._index.clear()


def open_buffer(
    kind: Literal["sqlite", "memory"],
    *,
    path: Path,
    max_bytes: int,
    max_age_s: float,
    policy: DropPolicy,
    synchronous: Synchronous = "FULL",
) -> Buffer:
    if kind == "memory":
        return MemoryBuffer(max_bytes=max_bytes, max_age_s=max_age_s, policy=policy)
    return SQLiteBuffer(
        path, max_bytes=max_bytes, max_age_s=max_age_s, policy=policy, synchronous=synchronous
    )
