"""The edge buffer: FIFO, bounds, policies and exact drop counts, durability across reopen."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_agent.buffer import Buffer, MemoryBuffer, NewEntry, SQLiteBuffer

Factory = Callable[..., Buffer]


def entry(i: int, size: int = 100, count: int = 10, topic: str = "t/a") -> NewEntry:
    return NewEntry(
        topic=topic,
        payload=bytes([i % 256]) * size,
        count=count,
        first_ts_ms=1_767_600_000_000 + i,
        last_seq=i,
        last_ts_ms=1_767_600_000_000 + i,
    )


@pytest.fixture(params=["sqlite", "memory"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    def factory(**kw: object) -> Buffer:
        if request.param == "memory":
            return MemoryBuffer(**kw)  # type: ignore[arg-type]
        return SQLiteBuffer(tmp_path / "b.db", synchronous="OFF", **kw)  # type: ignore[arg-type]

    return factory


def test_fifo_and_ack(make: Factory) -> None:
    b = make()
    assert b.put([entry(i) for i in range(5)]) == 0
    s = b.stats()
    assert (s.messages, s.readings, s.bytes) == (5, 50, 500)
    first = b.peek(0, 3)
    assert [e.last_seq for e in first] == [0, 1, 2]
    assert [e.last_seq for e in b.peek(first[-1].id, 10)] == [3, 4]
    b.ack([first[1].id])  # acks may come back in any order
    assert [e.last_seq for e in b.peek(0, 10)] == [0, 2, 3, 4]
    b.ack([e.id for e in b.peek(0, 10)])
    s = b.stats()
    assert (s.messages, s.readings, s.bytes, s.oldest_ts_ms) == (0, 0, 0, None)


def test_drop_oldest_counts_exactly(make: Factory) -> None:
    b = make(max_bytes=1000, policy="drop_oldest")
    b.put([entry(i) for i in range(10)])
    assert b.put([entry(10), entry(11), entry(12)]) == 0
    s = b.stats()
    assert s.bytes == 1000 and s.messages == 10
    assert s.dropped_messages == 3 and s.dropped_readings == 30
    assert [e.last_seq for e in b.peek(0, 100)] == list(range(3, 13))


def test_reject_new_counts_exactly(make: Factory) -> None:
    b = make(max_bytes=1000, policy="reject_new")
    b.put([entry(i) for i in range(8)])
    assert b.put([entry(i, count=7) for i in range(8, 12)]) == 14
    s = b.stats()
    assert s.messages == 10 and s.dropped_readings == 14 and s.dropped_messages == 2
    assert [e.last_seq for e in b.peek(0, 100)] == list(range(10))


def test_a_message_larger_than_the_buffer_is_refused(make: Factory) -> None:
    b = make(max_bytes=1000)
    assert b.put([entry(0, size=2000, count=5)]) == 5
    assert b.stats().messages == 0 and b.stats().dropped_readings == 5


def test_age_bound(make: Factory) -> None:
    b = make(max_age_s=60)
    b.put([entry(0), entry(1)])
    now = int(time.time() * 1000)
    assert b.expire(now) == 0
    assert b.expire(now + 61_000) == 20
    assert b.stats().messages == 0 and b.stats().dropped_readings == 20


def test_checkpoints_remember_the_last_reading_per_topic(make: Factory) -> None:
    b = make()
    b.put([entry(1, topic="x"), entry(2, topic="y"), entry(3, topic="x")])
    assert b.last_seqs() == {"x": (3, 1_767_600_000_003), "y": (2, 1_767_600_000_002)}


def test_durable_across_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    b = SQLiteBuffer(path, max_bytes=1000, policy="drop_oldest")
    b.put([entry(i) for i in range(12)])  # two dropped
    b.ack([b.peek(0, 1)[0].id])
    # No close(): the process "dies" here. A new one opens the same file.
    again = SQLiteBuffer(path, max_bytes=1000, policy="drop_oldest")
    s = again.stats()
    assert s.messages == 9 and s.readings == 90 and s.bytes == 900
    assert s.dropped_readings == 20, "drop counters survive restarts"
    assert [e.last_seq for e in again.peek(0, 100)] == list(range(3, 12))
    assert again.last_seqs() == {"t/a": (11, 1_767_600_000_011)}
