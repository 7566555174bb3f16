"""OEE and energy: hand-worked examples through the same path as telemetry.

Readings are sent as wire JSON, decoded, written to a real SQLite store, read
back by the analytics reader and computed, exactly as in production.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.oee.accounts import Kpi, Params, Window, aggregate
from analytics.oee.analysis import machine_kpis
from analytics.oee.counters import counter_increments
from analytics.oee.timeline import machine_kpi
from store.series import TelemetrySeries
from store.sqlite import SQLiteReader, SQLiteStore
from telemetry.codec import decode
from telemetry.topic import MachinePath

T0 = 1_767_600_000_000
MIN = 60_000
PATH = MachinePath("plant1", "assembly", "line1", "m01")


async def store_and_compute(
    tmp_path: Path,
    telemetry: list[dict[str, Any]],
    energy: list[dict[str, Any]] | None,
    window: Window,
    *,
    max_gap_s: float = 3600.0,
) -> Kpi:
    store = SQLiteStore(tmp_path / "t.db")
    await store.open()
    base = "factory/v1/plant1/assembly/line1/m01"
    messages = [decode(f"{base}/telemetry", json.dumps(telemetry).encode())]
    if energy:
        messages.append(decode(f"{base}/energy", json.dumps(energy).encode()))
    await store.write(messages)
    await store.close()
    kpis = await machine_kpis(SQLiteReader(tmp_path / "t.db"), window, max_gap_s=max_gap_s)
    return kpis[PATH]


def tel(seq: int, minute: float, state: str, total: int, good: int, **kw: Any) -> dict[str, Any]:
    return {
        "ts": T0 + round(minute * MIN),
        "seq": seq,
        "state": state,
        "total_count": total,
        "good_count": good,
        **kw,
    }


async def test_published_oee_example(tmp_path: Path) -> None:
    """The worked example of oee.com ("Calculate OEE"): one 8-hour shift.

    Shift 480 min; two 15-min breaks and a 30-min meal (planned stops) leave 420 min
    of planned production time; 47 min of breakdown leave 373 min of run time;
    ideal cycle time 1.0 s (60 parts per minute); 19,271 parts made, 423 rejected.
    Published: availability 88.81 %, performance 86.11 %, quality 97.80 %, OEE 74.79 %.
    """
    rate = 19_271 / 373  # parts per run minute, so the counts are exact at each reading
    rows: list[dict[str, Any]] = []
    run_min = 0.0

    def at(minute: float, state: str, **kw: Any) -> None:
        made = round(run_min * rate)
        bad = round(made * 423 / 19_271)
        rows.append(tel(len(rows), minute, state, made, made - bad, ideal_cycle_s=1.0, **kw))

    plan = [
        (0, "RUNNING", 120),
        (120, "PLANNED_STOP", 15),
        (135, "RUNNING", 65),
        (200, "DOWN", 47),
        (247, "RUNNING", 53),
        (300, "PLANNED_STOP", 30),
        (330, "RUNNING", 60),
        (390, "PLANNED_STOP", 15),
        (405, "RUNNING", 75),
    ]
    for start, state, length in plan:
        at(start, state, **({"reason": "break"} if state == "PLANNED_STOP" else {}))
        if state == "RUNNING":
            run_min += length
    at(480, "RUNNING")
    # Only state changes are sent here (no heartbeat), so a state may hold for hours.
    kpi = await store_and_compute(
        tmp_path, rows, None, Window(T0, T0 + 480 * MIN), max_gap_s=8 * 3600
    )
    assert kpi.planned_busy_s == 420 * 60
    assert kpi.run_s == 373 * 60
    assert kpi.total_count == 19_271 and kpi.good_count == 19_271 - 423
    assert kpi.availability == pytest.approx(0.8881, abs=1e-4)
    assert kpi.performance == pytest.approx(0.8611, abs=1e-4)
    assert kpi.quality == pytest.approx(0.9780, abs=1e-4)
    assert kpi.oee == pytest.approx(0.7479, abs=1e-4)


async def test_energy_intensity_with_a_meter_reset(tmp_path: Path) -> None:
    rows = [tel(0, 0, "RUNNING", 0, 0, ideal_cycle_s=60.0), tel(1, 60, "RUNNING", 50, 40)]
    energy = [
        {"ts": T0, "seq": 0, "power_kw": 10.0, "energy_kwh": 1000.0},
        {"ts": T0 + 30 * MIN, "seq": 1, "power_kw": 10.0, "energy_kwh": 1005.0},
        # The meter was replaced: its register starts again from zero.
        {"ts": T0 + 45 * MIN, "seq": 2, "power_kw": 10.0, "energy_kwh": 2.5},
        {"ts": T0 + 60 * MIN, "seq": 3, "power_kw": 10.0, "energy_kwh": 5.0},
    ]
    kpi = await store_and_compute(tmp_path, rows, energy, Window(T0, T0 + 60 * MIN))
    assert kpi.energy_kwh == pytest.approx(5.0 + 2.5 + 2.5)
    assert kpi.kwh_per_good_unit == pytest.approx(10.0 / 40)
    assert kpi.kwh_per_unit == pytest.approx(10.0 / 50)
    assert kpi.performance == pytest.approx(50 * 60 / 3600)


async def test_silence_is_no_data_not_running(tmp_path: Path) -> None:
    # A reading a minute from 0 to 10 and from 50 to 60; silent in between.
    minutes = [*range(0, 11), *range(50, 61)]
    rows = [
        tel(i, m, "RUNNING", 6 * min(m, 10) + 6 * max(0, m - 50), 0, ideal_cycle_s=10.0)
        for i, m in enumerate(minutes)
    ]
    kpi = await store_and_compute(tmp_path, rows, None, Window(T0, T0 + 60 * MIN), max_gap_s=60)
    assert kpi.run_s == pytest.approx(10 * 60 + 60 + 10 * 60)
    assert kpi.no_data_s == pytest.approx(60 * 60 - kpi.run_s)
    assert kpi.availability == pytest.approx(1.0)
    assert kpi.total_count == 120


def test_counter_reset_counts_what_was_made_since() -> None:
    inc = counter_increments(np.array([100, 150, 5, 20]))
    assert inc.tolist() == [50, 5, 15]


def test_line_is_time_weighted_not_a_mean_of_percentages() -> None:
    w = Window(T0, T0 + 3_600_000)
    a = Kpi(
        path=PATH,
        window=w,
        run_s=100,
        planned_busy_s=1000,
        no_data_s=0,
        ideal_s=50,
        total_count=10,
        good_count=5,
        energy_kwh=1.0,
    )
    b = Kpi(
        path=PATH,
        window=w,
        run_s=900,
        planned_busy_s=1000,
        no_data_s=0,
        ideal_s=900,
        total_count=90,
        good_count=90,
        energy_kwh=9.0,
    )
    line = aggregate([a, b])
    assert line.availability == pytest.approx(1000 / 2000)
    assert line.performance == pytest.approx(950 / 1000)
    assert line.quality == pytest.approx(95 / 100)
    assert line.kwh_per_good_unit == pytest.approx(10 / 95)
    mean_of_availability = (a.availability + b.availability) / 2  # type: ignore[operator]
    assert line.availability == pytest.approx(mean_of_availability)  # equal planned time here
    assert line.quality != pytest.approx((a.quality + b.quality) / 2)  # type: ignore[operator]


states = st.sampled_from(["RUNNING", "IDLE", "DOWN", "SETUP", "PLANNED_STOP"])


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(1, 600), states, st.integers(0, 30), st.integers(0, 30)),
        min_size=2,
        max_size=60,
    ),
    cycle=st.floats(0.5, 5.0),
)
def test_factors_are_fractions_when_ideal_cycle_is_right(
    steps: list[tuple[int, str, int, int]], cycle: float
) -> None:
    """Units are made only while running and never faster than the ideal cycle."""
    t, total, good = [T0], [0], [0]
    state_codes = []
    from telemetry.models import MachineState

    for dt, state, made, scrap in steps:
        state_codes.append(MachineState(state).code)
        can_make = int(dt // cycle) if state == "RUNNING" else 0
        made = min(made, can_make)
        t.append(t[-1] + dt * 1000)
        total.append(total[-1] + made)
        good.append(good[-1] + made - min(scrap, made))
    state_codes.append(state_codes[-1])
    series = TelemetrySeries(
        t_ms=np.array(t),
        state=np.array(state_codes, dtype=np.int8),
        total_count=np.array(total),
        good_count=np.array(good),
        ideal_cycle_s=np.full(len(t), cycle),
        reason=np.zeros(len(t), dtype=np.int64),
        reasons=("unspecified",),
    )
    kpi = machine_kpi(PATH, series, None, Window(t[0], t[-1]), Params(max_gap_s=600))
    for value in (kpi.availability, kpi.performance, kpi.quality, kpi.oee):
        assert value is None or 0.0 <= value <= 1.0 + 1e-9


account = st.builds(
    lambda planned, run_share, small_share, ideal_share, total, good_share, kwh: Kpi(
        planned_busy_s=planned,
        run_s=planned * run_share,
        small_stop_s=planned * (1 - run_share) * small_share,
        ideal_s=planned * run_share * ideal_share,
        total_count=total,
        good_count=int(total * good_share),
        energy_kwh=kwh,
    ),
    st.floats(1, 1e6), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1),
    st.integers(0, 10**6), st.floats(0, 1), st.floats(0, 1e4),
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(account, min_size=1, max_size=30))
def test_a_group_is_its_summed_times_and_counts(machines: list[Kpi]) -> None:
    line = aggregate(machines)
    planned = sum(k.planned_busy_s for k in machines)
    operating = sum(k.run_s + k.small_stop_s for k in machines)
    ideal = sum(k.ideal_s or 0.0 for k in machines)
    total = sum(k.total_count for k in machines)
    good = sum(k.good_count for k in machines)
    assert line.availability == pytest.approx(operating / planned)
    if operating > 0:
        assert line.performance == pytest.approx(ideal / operating)
    if total > 0:
        assert line.quality == pytest.approx(good / total)
        assert line.kwh_per_good_unit == (
            None if good == 0 else pytest.approx(sum(k.energy_kwh or 0 for k in machines) / good)
        )
    for value in (line.availability, line.performance, line.quality, line.oee):
        assert value is None or 0.0 <= value <= 1.0 + 1e-9
