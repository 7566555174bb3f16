"""The dead letters of the embedded store: the ``deadletter`` table of its file."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from store.base import DeadLetter, kept
from store.errors import StoreError
from telemetry.layout import DEADLETTER

T = TypeVar("T")


class Owner(Protocol):
    """The store whose connection (and its lock) the dead letters share."""

    _conn: sqlite3.Connection | None
    _lock: asyncio.Lock


_DL_COLUMNS = ("id", *DEADLETTER.field_names)


class SQLiteDeadLetters:
    """The ``deadletter`` table of the store's file (shared by every process using it)."""

    def __init__(self, store: Owner, *, source: str, max_payload_bytes: int) -> None:
        self._store = store
        self._source = source
        self._limit = max_payload_bytes

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._store._conn
        assert conn is not None, "open() the store first"
        async with self._store._lock:
            try:
                return await asyncio.to_thread(fn, conn)
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite dead letters: {exc}", action="retry") from exc

    async def add(self, letters: Sequence[DeadLetter]) -> None:
        now = int(time.time() * 1000)
        rows = []
        for letter in letters:
            k = kept(letter, source=self._source, limit=self._limit, now_ms=now)
            rows.append((k.id, k.source, k.stage, k.topic, k.payload, k.payload_bytes,
                         int(k.truncated), k.error, k.received_ms))  # fmt: skip
        marks = ",".join("?" * len(_DL_COLUMNS))

        def insert(conn: sqlite3.Connection) -> None:
            with conn:
                conn.executemany(
                    f"INSERT OR REPLACE INTO {DEADLETTER.name} ({','.join(_DL_COLUMNS)}) "
                    f"VALUES ({marks})",
                    rows,
                )

        if rows:
            await self._run(insert)

    async def _select(self, where: str, params: Sequence[object]) -> list[DeadLetter]:
        def select(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            return conn.execute(
                f"SELECT {','.join(_DL_COLUMNS)} FROM {DEADLETTER.name} {where}", params
            ).fetchall()

        return [
            DeadLetter(id=r[0], source=r[1], stage=r[2], topic=r[3], payload=bytes(r[4]),
                       payload_bytes=r[5], truncated=bool(r[6]), error=r[7], received_ms=r[8])
            for r in await self._run(select)
        ]  # fmt: skip

    async def newest(self, limit: int) -> list[DeadLetter]:
        return await self._select("ORDER BY received_ms DESC, id LIMIT ?", (limit,))

    async def get(self, ids: Sequence[int]) -> list[DeadLetter]:
        marks = ",".join("?" * len(ids))
        return await self._select(f"WHERE id IN ({marks}) ORDER BY id", list(ids))

    async def ids(self) -> list[int]:
        return [d for (d,) in await self._run(
            lambda c: c.execute(f"SELECT id FROM {DEADLETTER.name} ORDER BY id").fetchall()
        )]  # fmt: skip

    async def count(self) -> int:
        rows = await self._run(
            lambda c: c.execute(f"SELECT count(*) FROM {DEADLETTER.name}").fetchall()
        )
        return int(rows[0][0])

    async def remove(self, ids: Sequence[int]) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            with conn:
                conn.executemany(f"DELETE FROM {DEADLETTER.name} WHERE id = ?", [(i,) for i in ids])

        await self._run(delete)

    async def set_error(self, letter: DeadLetter, error: str) -> None:
        def update(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute(
                    f"UPDATE {DEADLETTER.name} SET error = ? WHERE id = ?", (error, letter.id)
                )

        await self._run(update)
