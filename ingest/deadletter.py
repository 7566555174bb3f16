"""Dead letters: every rejected message, kept with its topic, payload and reason."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from store import Store

Stage = Literal["decode", "store"]

_DDL = """
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_ms INTEGER NOT NULL,
    stage TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    payload_bytes INTEGER NOT NULL,
    truncated INTEGER NOT NULL,
    error TEXT NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    payload: bytes
    error: str
    stage: Stage = "decode"
    received_ms: int = 0
    id: int | None = None
    payload_bytes: int = 0
    truncated: bool = False


class DeadLetterStore:
    """A SQLite file; the payload is kept up to ``max_payload_bytes`` (its full size is noted)."""

    def __init__(self, path: Path, *, max_payload_bytes: int = 65_536) -> None:
        self.path = path
        self.max_payload_bytes = max_payload_bytes
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    def open_sync(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(_DDL)
        self._conn.commit()

    async def open(self) -> None:
        await asyncio.to_thread(self.open_sync)

    def add_sync(self, letters: Sequence[DeadLetter]) -> None:
        assert self._conn is not None, "open() the dead-letter store first"
        now = int(time.time() * 1000)
        limit = self.max_payload_bytes
        with self._conn:
            self._conn.executemany(
                "INSERT INTO dead_letter (received_ms, stage, topic, payload, payload_bytes, "
                "truncated, error) VALUES (?,?,?,?,?,?,?)",
                [
                    (
                        d.received_ms or now,
                        d.stage,
                        d.topic,
                        d.payload[:limit],
                        len(d.payload),
                        int(len(d.payload) > limit),
                        d.error,
                    )
                    for d in letters
                ],
            )

    async def add(self, letters: Sequence[DeadLetter]) -> None:
        if letters:
            async with self._lock:
                await asyncio.to_thread(self.add_sync, letters)

    def _select(self, where: str, params: tuple[object, ...] | list[int]) -> list[DeadLetter]:
        assert self._conn is not None, "open() the dead-letter store first"
        rows = self._conn.execute(
            "SELECT id, received_ms, stage, topic, payload, payload_bytes, truncated, error "
            f"FROM dead_letter {where}",
            params,
        ).fetchall()
        return [
            DeadLetter(
                id=r[0],
                received_ms=r[1],
                stage=r[2],
                topic=r[3],
                payload=bytes(r[4]),
                payload_bytes=r[5],
                truncated=bool(r[6]),
                error=r[7],
            )
            for r in rows
        ]

    def list_sync(self, *, limit: int = 100) -> list[DeadLetter]:
        """The newest dead letters first."""
        return self._select("ORDER BY id DESC LIMIT ?", (limit,))

    def get_sync(self, ids: list[int]) -> list[DeadLetter]:
        marks = ",".join("?" * len(ids))
        return self._select(f"WHERE id IN ({marks}) ORDER BY id", ids)

    def all_ids_sync(self) -> list[int]:
        assert self._conn is not None
        return [int(r[0]) for r in self._conn.execute("SELECT id FROM dead_letter ORDER BY id")]

    def delete_sync(self, ids: list[int]) -> None:
        assert self._conn is not None
        with self._conn:
            self._conn.executemany("DELETE FROM dead_letter WHERE id = ?", [(i,) for i in ids])

    def update_error_sync(self, letter_id: int, error: str) -> None:
        assert self._conn is not None
        with self._conn:
            self._conn.execute("UPDATE dead_letter SET error = ? WHERE id = ?", (error, letter_id))

    def count_sync(self) -> int:
        assert self._conn is not None
        return int(self._conn.execute("SELECT count(*) FROM dead_letter").fetchone()[0])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass(frozen=True, slots=True)
class ReingestResult:
    stored: list[int]
    """Dead letters that now decode and were written (and removed from the dead letters)."""
    still_bad: list[tuple[int, str]]
    truncated: list[int]
    """Payloads kept only in part; they cannot be ingested again."""
    readings: int


async def reingest(
    store: DeadLetterStore,
    ids: list[int],
    writer: Store,
    *,
    root: str,
    max_payload_bytes: int,
    max_readings: int,
) -> ReingestResult:
    """Decode dead letters again with the current code and write those that now pass.

    ``writer`` is an opened :class:`store.Store`. A letter is removed only
    after its readings are written; one that still fails keeps its new reason.
    """
    from telemetry.codec import DecodeError, decode

    letters = await asyncio.to_thread(store.get_sync, ids)
    stored: list[int] = []
    bad: list[tuple[int, str]] = []
    truncated: list[int] = []
    readings = 0
    for letter in letters:
        assert letter.id is not None
        if letter.truncated:
            truncated.append(letter.id)
            continue
        try:
            message = decode(
                letter.topic,
                letter.payload,
                root=root,
                max_payload_bytes=max_payload_bytes,
                max_readings=max_readings,
            )
        except DecodeError as exc:
            bad.append((letter.id, exc.reason))
            await asyncio.to_thread(store.update_error_sync, letter.id, exc.reason)
            continue
        n = await writer.write([message])
        readings += n
        await asyncio.to_thread(store.delete_sync, [letter.id])
        stored.append(letter.id)
    return ReingestResult(stored, bad, truncated, readings)
