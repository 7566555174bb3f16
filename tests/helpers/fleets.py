"""Simulated plants stored for the analytics tests (the simulator's truth is the oracle), and
the comparisons of two reports (from raw readings and from stored accounts)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from analytics.oee.accounts import Window
from analytics.oee.analysis import analyse
from analytics.oee.anomaly import Detector
from analytics.oee.book import book_of
from analytics.report import build as summary
from simulators.faults import Faults, fleet_messages
from simulators.fleet import Fleet
from store.sqlite import SQLiteReader, SQLiteStore
from telemetry.codec import decode

PLANTS = Path(__file__).parents[2] / "deploy" / "plants"


MIDNIGHT_VN = 1_767_546_000_000  # 2026-01-05T00:00+07:00, a Monday


async def store_fleet(fleet: Fleet, db: Path, *, shuffle: bool = False) -> None:
    store = SQLiteStore(db)
    await store.open()
    messages, _ = fleet_messages(fleet, Faults(), root="factory", batch=200)
    decoded = [decode(topic, payload) for topic, payload in messages]
    if shuffle:
        random.Random(5).shuffle(decoded)
    for i in range(0, len(decoded), 500):
        await store.write(decoded[i : i + 500])
    await store.close()


def assert_same(a: Any, b: Any, where: str = "report", rel: float = 1e-9) -> None:
    """Equal documents: the same keys, lists and integers, floats to ``rel`` (sums of the
    same numbers in another order differ in the last bits; a difference of times or
    energies that should be 0 is rounding below 1e-6)."""
    if isinstance(a, dict):
        assert isinstance(b, dict), where
        assert sorted(a) == sorted(b), f"{where}: keys {sorted(set(a) ^ set(b))}"
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}", rel)
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{where}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]", rel)
    elif isinstance(a, float) and isinstance(b, float | int) and not isinstance(b, bool):
        assert b == pytest.approx(a, rel=rel, abs=1e-6), f"{where}: {a} vs {b}"
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def without_sources(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "sources"}


async def report_of(fleet: Fleet, db: Path, **kw: Any) -> dict[str, Any]:
    analysis = await analyse(
        SQLiteReader(db), Window(fleet.start_ms, fleet.end_ms), plant=fleet.plant,
        detector=Detector(), **kw,
    )  # fmt: skip
    report = summary.build(book_of(analysis), plant=fleet.plant, now_ms=fleet.end_ms + 86_400_000)
    return report.as_json_dict()
