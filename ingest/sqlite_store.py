"""The embedded store: SQLite in WAL mode, same logical layout as InfluxDB."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ingest.errors import StoreError
from telemetry.codec import Message
from telemetry.layout import SENSOR, TABLE_BY_CHANNEL, TAGS, Point, Table, sqlite_ddl
from telemetry.models import TelemetryReading


def connect(path: Path) -> sqlite3.Connection:
    """A connection with the pragmas every user of the store needs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    for statement in sqlite_ddl():
        conn.execute(statement)
    conn.commit()
    return conn


def _value(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    return v.value if hasattr(v, "value") else v


class SQLiteStore:
    """Writes each batch in one transaction; a reading with the same machine and ts replaces."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        try:
            self._conn = await asyncio.to_thread(connect, self.path)
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot open SQLite store {self.path}: {exc}", action="retry"
            ) from exc

    def _write(self, messages: Sequence[Message]) -> int:
        assert self._conn is not None, "open() the store first"
        rows: dict[Table, list[tuple[Any, ...]]] = {}
        sensors: list[tuple[Any, ...]] = []
        count = 0
        for message in messages:
            table = TABLE_BY_CHANNEL[message.topic.channel]
            tags = tuple(getattr(message.topic.path, t) for t in TAGS)
            out = rows.setdefault(table, [])
            for r in message.readings:
                out.append((*tags, r.ts, *(_value(getattr(r, f)) for f in table.field_names)))
                if isinstance(r, TelemetryReading) and r.sensors:
                    sensors.extend((*tags, r.ts, k, v) for k, v in r.sensors.items())
            count += len(message.readings)
        with self._conn:
            for table, values in rows.items():
                cols = (*TAGS, "ts", *table.field_names)
                marks = ",".join("?" * len(cols))
                self._conn.executemany(
                    f"INSERT OR REPLACE INTO {table.name} ({','.join(cols)}) VALUES ({marks})",
                    values,
                )
            if sensors:
                cols = (*TAGS, "ts", *SENSOR.field_names)
                self._conn.executemany(
                    f"INSERT OR REPLACE INTO sensor ({','.join(cols)}) VALUES (?,?,?,?,?,?,?)",
                    sensors,
                )
        return count

    async def write(self, messages: Sequence[Message]) -> int:
        async with self._lock:
            try:
                return await asyncio.to_thread(self._write, messages)
            except sqlite3.OperationalError as exc:  # locked, disk full, I/O error: try again
                raise StoreError(f"SQLite write failed: {exc}", action="retry") from exc
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite rejected the batch: {exc}", action="drop") from exc

    def _write_points(self, points: Sequence[Point]) -> int:
        assert self._conn is not None, "open() the store first"
        with self._conn:
            for p in points:
                cols = (*p.tags, "ts", *p.fields)
                values = (*p.tags.values(), p.ts_ms, *(_value(v) for v in p.fields.values()))
                self._conn.execute(
                    f"INSERT OR REPLACE INTO {p.table.name} ({','.join(cols)}) "
                    f"VALUES ({','.join('?' * len(cols))})",
                    values,
                )
        return len(points)

    async def write_points(self, points: Sequence[Point]) -> int:
        async with self._lock:
            try:
                return await asyncio.to_thread(self._write_points, points)
            except sqlite3.Error as exc:
                raise StoreError(
                    f"SQLite write of computed points failed: {exc}", action="retry"
                ) from exc

    async def ping(self) -> bool:
        return self._conn is not None

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.to_thread(conn.close)
