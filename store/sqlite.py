"""The embedded store: SQLite in WAL mode, the same logical layout as InfluxDB.

``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``. The writer
needs only the standard library; the reader parses with numpy (imported when
first used, so that an ingest host writing SQLite needs no numpy).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import SplitResult, unquote

from pydantic import SecretStr

from store.base import AccountRow, ChangeMarks, Row, StoreEndpoint, writer_name
from store.errors import ReaderError, StoreError
from store.sqlite_schema import ddl, ensure
from telemetry.codec import Message
from telemetry.layout import (
    CHANGES,
    ENERGY,
    SENSOR,
    TABLE_BY_CHANNEL,
    TAGS,
    TELEMETRY,
    Point,
    Table,
)
from telemetry.models import TelemetryReading
from telemetry.topic import MachinePath
from telemetry.urls import UrlError

if TYPE_CHECKING:
    from store.series import Columns, MachineData, SensorSeries
    from store.sqlite_deadletters import SQLiteDeadLetters

T = TypeVar("T")
KIND = "sqlite"
SCHEMES = ("sqlite",)
PREFIX = "sqlite:///"


log = logging.getLogger(__name__)


def parse_url(raw: str, parts: SplitResult) -> StoreEndpoint:
    if parts.netloc:
        raise UrlError(
            f"{raw!r}: use three slashes for a relative path (sqlite:///data/t.db) "
            "and four for an absolute one (sqlite:////var/lib/factory/t.db)"
        )
    path = unquote(parts.path)[1:] if parts.path.startswith("/") else unquote(parts.path)
    if not path:
        raise UrlError(f"{raw!r} names no file, e.g. sqlite:///factory-data/telemetry.db")
    return StoreEndpoint(kind=KIND, path=Path(path))


def open_store(endpoint: StoreEndpoint, *, token: SecretStr | None = None) -> SQLiteStore:
    assert endpoint.path is not None
    return SQLiteStore(endpoint.path)


def open_reader(endpoint: StoreEndpoint, *, token: SecretStr | None = None) -> SQLiteReader:
    assert endpoint.path is not None
    return SQLiteReader(endpoint.path)


def connect(path: Path) -> sqlite3.Connection:
    """A connection with the pragmas every user of the store needs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    for statement in ddl():
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
        self.marks = ChangeMarks(writer_name())
        self._tables: set[Table] = set()
        """Tables of computed points made (or brought up to date) on this connection."""

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
        hours = ChangeMarks.buckets(messages)
        # Marks are in the batch's transaction: they cannot be lost while its readings land.
        due = self.marks.before(hours, int(time.time() * 1000))
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
            self._insert_changes(due)
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
        late = self.marks.after(hours, int(time.time() * 1000))
        if late:
            with self._conn:
                self._insert_changes(late)
        return count

    def _insert_changes(self, marks: Sequence[tuple[int, int, int]]) -> None:
        assert self._conn is not None
        self._conn.executemany(
            f"INSERT OR REPLACE INTO {CHANGES.name} (writer, bucket, ts, readings) "
            "VALUES (?, ?, ?, ?)",
            [(self.marks.writer, hour, until, n) for hour, until, n in marks],
        )

    def _remove_changes(self, through_ms: int) -> None:
        assert self._conn is not None, "open() the store first"
        with self._conn:
            self._conn.execute(f"DELETE FROM {CHANGES.name} WHERE ts <= ?", (through_ms,))

    async def remove_changes(self, through_ms: int) -> None:
        async with self._lock:
            try:
                await asyncio.to_thread(self._remove_changes, through_ms)
            except sqlite3.Error as exc:
                raise StoreError(
                    f"SQLite: cannot drop change marks: {exc}", action="retry"
                ) from exc

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
            for table in {p.table for p in points} - self._tables:
                ensure(self._conn, table)
                self._tables.add(table)
            for p in points:
                cols = (*p.tags, "ts", *p.fields)
                values = (*p.tags.values(), p.ts_ms, *(_value(v) for v in p.fields.values()))
                marks = ",".join("?" * len(cols))
                if p.table.merge:  # as InfluxDB: only the fields given change
                    sets = ", ".join(f"{f} = COALESCE(excluded.{f}, {f})" for f in p.fields)
                    key = ", ".join(p.table.primary_key)
                    q = (
                        f"INSERT INTO {p.table.name} ({','.join(cols)}) VALUES ({marks}) "
                        f"ON CONFLICT ({key}) DO UPDATE SET {sets}"
                    )
                else:
                    q = f"INSERT OR REPLACE INTO {p.table.name} ({','.join(cols)}) VALUES ({marks})"
                self._conn.execute(q, values)
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

    def _release(self, marks: Sequence[tuple[int, int, int]], now_ms: int) -> None:
        assert self._conn is not None
        with self._conn:
            self._conn.execute(
                f"DELETE FROM {CHANGES.name} WHERE writer = ? AND ts > ?",
                (self.marks.writer, now_ms),
            )
            self._insert_changes(marks)

    async def close(self) -> None:
        if self._conn is not None:
            now = int(time.time() * 1000)
            released = self.marks.release(now)
            if released:
                async with self._lock:
                    try:
                        await asyncio.to_thread(self._release, released, now)
                    except sqlite3.Error as exc:  # they run out by themselves in seconds
                        log.warning("could not release change marks: %s", exc)
            conn, self._conn = self._conn, None
            await asyncio.to_thread(conn.close)

    def deadletters(self, *, source: str, max_payload_bytes: int) -> SQLiteDeadLetters:
        from store.sqlite_deadletters import SQLiteDeadLetters

        return SQLiteDeadLetters(self, source=source, max_payload_bytes=max_payload_bytes)


def _grouped_columns(
    conn: sqlite3.Connection, table: str, fields: Sequence[str], start_ms: int, end_ms: int
) -> dict[MachinePath, Columns]:
    """One grouped scan of the primary key: each machine's columns come back as one text
    each (``group_concat``), parsed by numpy; row by row, Python would be 5x slower."""
    import numpy as np

    from store.series import TEXT_FIELDS

    key = " || '/' || ".join(TAGS)
    # Missing numbers come back as -1 (every numeric field read here is >= 0), then NaN.
    parts = [
        f"group_concat(ifnull({f}, ''))" if f in TEXT_FIELDS else f"group_concat(ifnull({f}, -1))"
        for f in fields
    ]
    rows = conn.execute(
        f"SELECT {key}, count(*), group_concat(ts), {', '.join(parts)} FROM {table} "
        f"WHERE ts >= ? AND ts <= ? GROUP BY {', '.join(TAGS)}",
        (start_ms, end_ms),
    ).fetchall()
    out: dict[MachinePath, Columns] = {}
    for row in rows:
        n = row[1]
        cols: Columns = [np.fromstring(row[2], sep=",", dtype=np.int64)]
        for f, text in zip(fields, row[3:], strict=True):
            if f in TEXT_FIELDS:
                cols.append([v or None for v in text.split(",")])
            else:
                values = np.fromstring(text, sep=",", dtype=np.float64)
                values[values < 0] = np.nan
                cols.append(values)
        if any(len(c) != n for c in cols):
            raise ReaderError(f"{table}: unreadable values for {row[0]}")
        out[MachinePath(*row[0].split("/"))] = cols
    return out


class SQLiteReader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise ReaderError(
                f"no store at {self.path}: run `factory ingest` (or `factory demo`) first, "
                "or set FACTORY_STORE_URL"
            )
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)

    def _read(self, start_ms: int, end_ms: int, energy: bool) -> dict[MachinePath, MachineData]:
        from store.series import EN_FIELDS, TEL_FIELDS, assemble

        conn = self._connect()
        try:
            tel = _grouped_columns(conn, TELEMETRY.name, TEL_FIELDS, start_ms, end_ms)
            en = (_grouped_columns(conn, ENERGY.name, EN_FIELDS, start_ms, end_ms)
                  if energy else {})  # fmt: skip
        except sqlite3.Error as exc:
            raise ReaderError(f"cannot read {self.path}: {exc}") from exc
        finally:
            conn.close()
        return assemble(tel, en)

    async def read(
        self, start_ms: int, end_ms: int, *, energy: bool = True
    ) -> dict[MachinePath, MachineData]:
        return await asyncio.to_thread(self._read, start_ms, end_ms, energy)

    def _read_sensor(
        self, name: str, start_ms: int, end_ms: int
    ) -> dict[MachinePath, SensorSeries]:
        import numpy as np

        from store.series import sensor_series

        if not self.path.exists():
            return {}
        conn = self._connect()
        key = " || '/' || ".join(TAGS)
        try:
            rows = conn.execute(
                f"SELECT {key}, count(*), group_concat(ts), group_concat(value) FROM "
                f"{SENSOR.name} WHERE name = ? AND ts >= ? AND ts <= ? GROUP BY {', '.join(TAGS)}",
                (name, start_ms, end_ms),
            ).fetchall()
        except sqlite3.Error as exc:
            raise ReaderError(f"cannot read {self.path}: {exc}") from exc
        finally:
            conn.close()
        out = {}
        for row in rows:
            t = np.fromstring(row[2], sep=",", dtype=np.int64)
            v = np.fromstring(row[3], sep=",", dtype=np.float64)
            if len(t) != row[1] or len(v) != row[1]:
                raise ReaderError(f"{SENSOR.name}: unreadable values for {row[0]}")
            out[MachinePath(*row[0].split("/"))] = sensor_series([t, v])
        return out

    async def read_sensor(
        self, name: str, start_ms: int, end_ms: int
    ) -> dict[MachinePath, SensorSeries]:
        return await asyncio.to_thread(self._read_sensor, name, start_ms, end_ms)

    def _rows(self, q: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        if not self.path.exists():
            return []
        conn = self._connect()
        try:
            return conn.execute(q, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []  # a store written before accounts existed
            raise ReaderError(f"cannot read {self.path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise ReaderError(f"cannot read {self.path}: {exc}") from exc
        finally:
            conn.close()

    async def read_accounts(
        self, table: Table, period: str, start_ms: int, end_ms: int
    ) -> list[AccountRow]:
        rows = await asyncio.to_thread(
            self._rows,
            f"SELECT site, area, line, machine, ts, end_ms, computed_ms, entry FROM "
            f"{table.name} WHERE period = ? AND ts >= ? AND ts < ?",
            (period, start_ms, end_ms),
        )
        return [AccountRow(MachinePath(*r[:4]), period, *r[4:]) for r in rows]

    async def read_rows(
        self, table: Table, start_ms: int, end_ms: int, where: Mapping[str, str] | None = None
    ) -> list[Row]:
        where = table.where(where)
        names = (*table.tags, "ts", *table.field_names)
        cond = "".join(f" AND {t} = ?" for t in where)
        rows = await asyncio.to_thread(
            self._rows,
            f"SELECT {', '.join(names)} FROM {table.name} WHERE ts >= ? AND ts < ?{cond} "
            "ORDER BY ts",
            (start_ms, end_ms, *where.values()),
        )
        n = len(table.tags)
        kinds = [f.kind for f in table.fields]
        return [
            Row(
                dict(zip(table.tags, r[:n], strict=True)),
                int(r[n]),
                {f: (bool(v) if k == "bool" else v)
                 for f, k, v in zip(table.field_names, kinds, r[n + 1 :], strict=True)
                 if v is not None},
            )
            for r in rows
        ]  # fmt: skip

    async def read_changes(self, after_ms: int) -> list[tuple[int, int]]:
        rows = await asyncio.to_thread(
            self._rows, f"SELECT bucket, ts FROM {CHANGES.name} WHERE ts > ?", (after_ms,)
        )
        return sorted((int(b), int(t)) for b, t in rows)
