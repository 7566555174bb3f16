"""Dead letters: every rejected message, kept with its topic, payload and reason."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

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
            await asyncio.to_thread(self.add_sync, letters)

    def list_sync(self, *, limit: int = 100) -> list[DeadLetter]:
        assert self._conn is not None, "open() the dead-letter store first"
        rows = self._conn.execute(
            "SELECT id, received_ms, stage, topic, payload, payload_bytes, truncated, error "
            "FROM dead_letter ORDER BY id DESC LIMIT ?",
            (limit,),
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

    def count_sync(self) -> int:
        assert self._conn is not None
        return int(self._conn.execute("SELECT count(*) FROM dead_letter").fetchone()[0])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
