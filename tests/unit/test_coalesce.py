"""The edge agent joins small buffered messages of one topic before sending them."""

from __future__ import annotations

import json

from edge_agent.agent import coalesce, joined
from edge_agent.buffer import Entry
from telemetry.codec import encode


def entry(i: int, topic: str, seqs: list[int]) -> Entry:
    readings = [{"ts": 1_000 + s, "seq": s, "power_kw": 1.5} for s in seqs]
    return Entry(i, topic, encode(readings), len(seqs), 1_000 + seqs[0], seqs[-1])


def test_each_topic_keeps_its_order_and_no_message_exceeds_the_limit() -> None:
    entries = [
        entry(1, "a", [0, 1]), entry(2, "b", [0]), entry(3, "a", [2]),
        entry(4, "b", [1, 2]), entry(5, "a", [3, 4]), entry(6, "a", [5]),
    ]  # fmt: skip
    groups = coalesce(entries, max_readings=4)
    assert [[e.id for e in g] for g in groups] == [[1, 3], [2, 4], [5, 6]]
    # a message holds at most 4 readings: 2 + 1 + 2 would be 5, so entry 5 opens a new one
    for g in groups:
        assert sum(e.count for e in g) <= 4
    readings = {g[0].topic: [] for g in groups}
    for g in groups:
        payload = json.loads(joined(g))
        assert len(payload) == sum(e.count for e in g)
        readings[g[0].topic] += [r["seq"] for r in payload]
    assert readings == {"a": [0, 1, 2, 3, 4, 5], "b": [0, 1, 2]}


def test_a_single_message_is_sent_as_it_was_buffered() -> None:
    e = entry(7, "a", [0, 1, 2])
    assert coalesce([e], max_readings=2) == [[e]]  # never split, even above the limit
    assert joined([e]) is e.payload
