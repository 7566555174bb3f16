"""Fault injection: every fault is in the stream exactly as often as the report says."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from simulators import Fleet, FleetConfig
from simulators.faults import Faults, fleet_messages


def run(faults: Faults) -> tuple[list[tuple[str, bytes]], dict[str, object]]:
    fleet = Fleet(FleetConfig(machines=4, lines=2, hours=4, seed=2))
    messages, injector = fleet_messages(fleet, faults, root="factory", batch=50)
    out = list(messages)
    return out, injector.report.as_dict()


def good(payload: bytes) -> list[dict[str, object]] | None:
    try:
        value = json.loads(payload)
    except ValueError:
        return None
    return value if isinstance(value, list) and value else None


def test_no_faults_changes_nothing() -> None:
    out, report = run(Faults())
    assert all(good(p) for _, p in out)
    assert report["messages"] == len(out)


def test_malformed_messages_are_counted_exactly() -> None:
    out, report = run(Faults(malformed=0.1, seed=9))
    malformed = [p for _, p in out if good(p) is None]
    assert len(out) == report["messages"]
    assert len(malformed) == report["malformed_messages"] > 0
    readings = sum(len(good(p) or []) for _, p in out)
    assert readings + report["malformed_readings_lost"] == report["readings"]


def test_duplicates_and_out_of_order_are_counted_exactly() -> None:
    out, report = run(Faults(duplicates=0.05, out_of_order=0.05, seed=9))
    assert len(out) == report["messages"] + report["duplicate_messages"]
    repeats = sum(n - 1 for n in Counter(out).values())
    assert repeats == report["duplicate_messages"] > 0
    late = 0
    last: dict[str, int] = {}
    for topic, payload in dict.fromkeys(out):  # first arrivals
        items = good(payload)
        assert items is not None
        if int(items[0]["seq"]) < last.get(topic, -1):  # type: ignore[call-overload]
            late += 1
        last[topic] = max(last.get(topic, -1), int(items[-1]["seq"]))  # type: ignore[call-overload]
    assert late == report["out_of_order_messages"] > 0


def by_topic(out: list[tuple[str, bytes]]) -> dict[str, list[dict[str, object]]]:
    per: dict[str, list[dict[str, object]]] = {}
    for topic, payload in out:
        per.setdefault(topic, []).extend(good(payload) or [])
    return per


def test_a_gap_silences_one_device_and_counts_what_it_dropped() -> None:
    plain = by_topic(run(Faults())[0])
    out, report = run(Faults(gaps=1, gap_s=900, seed=4))
    (gap,) = report["gaps"]  # type: ignore[misc]
    got = by_topic(out)
    dropped = 0
    for topic, items in plain.items():
        inside = [r for r in items if gap["from_ms"] <= r["ts"] < gap["to_ms"]]  # type: ignore[operator]
        if f"/{gap['device']}/" in topic:
            assert len(got[topic]) == len(items) - len(inside)
            dropped += len(inside)
        else:
            assert got[topic] == items
    assert dropped == report["gap_readings_dropped"] > 0


def test_clock_skew_shifts_one_device() -> None:
    plain = by_topic(run(Faults())[0])
    out, report = run(Faults(clock_skew_s=3600, seed=4))
    got = by_topic(out)
    shifted = 0
    for topic, items in plain.items():
        if f"/{report['skewed_device']}/" in topic:
            assert [r["ts"] for r in got[topic]] == [r["ts"] + 3_600_000 for r in items]  # type: ignore[operator]
            shifted += len(items)
        else:
            assert got[topic] == items
    assert shifted == report["skewed_readings"]


def test_a_counter_reset_restarts_the_counters_at_zero() -> None:
    out, report = run(Faults(counter_resets=1, seed=4))
    (reset,) = report["counter_resets"]  # type: ignore[misc]
    tel = by_topic(out)[f"factory/v1/{reset['device']}/telemetry"]
    totals = [int(r["total_count"]) for r in tel]  # type: ignore[call-overload]
    drops = [i for i in range(1, len(totals)) if totals[i] < totals[i - 1]]
    assert len(drops) == 1 and totals[drops[0]] == 0
    assert tel[drops[0]]["ts"] == reset["at_ms"]


def test_bursts_send_the_backlog_at_once_and_lose_nothing() -> None:
    clean, _ = run(Faults())
    out, report = run(Faults(bursts=2, burst_s=900, seed=4))
    bursts: list[dict[str, Any]] = report["bursts"]  # type: ignore[assignment]
    assert len(bursts) == 2 and all(b["readings"] > 0 for b in bursts)
    seqs = {t: [r["seq"] for r in rs] for t, rs in by_topic(out).items()}
    # Nothing lost, nothing repeated, and the order of each topic kept (backlog first).
    assert seqs == {t: [r["seq"] for r in rs] for t, rs in by_topic(clean).items()}

    def position(stream: list[tuple[str, bytes]], topic: str, seq: int) -> int:
        return next(
            i
            for i, (t, p) in enumerate(stream)
            if t == topic and any(r["seq"] == seq for r in json.loads(p))
        )

    held = 0
    for b in bursts:
        for topic, readings in by_topic(out).items():
            if f"/{b['device']}/" not in topic:
                continue
            inside = [r for r in readings if b["from_ms"] <= r["ts"] < b["to_ms"]]
            held += len(inside)
            # Sent later in the stream than without the burst: after other devices' readings
            # that were measured after it.
            first = int(inside[0]["seq"])
            assert position(out, topic, first) > position(clean, topic, first)
    assert held == sum(b["readings"] for b in bursts)
