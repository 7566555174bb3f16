"""The analytics against the simulator's exact ground truth, and a worked six-big-losses shift.

Readings go the production way: wire JSON, decoded, written to a real SQLite
store, read back by the analytics reader.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from analytics.oee.accounts import Window
from analytics.oee.analysis import Analysis, analyse, group
from analytics.oee.counters import counter_increments
from plant.model import Plant, load_plant
from plant.oee import Oee
from simulators.fleet import Fleet, FleetConfig
from store.sqlite import SQLiteReader, SQLiteStore
from telemetry.codec import decode
from tests.helpers.fleets import MIDNIGHT_VN, PLANTS, store_fleet


def assert_agrees(name: str, got: Oee, truth: dict[str, Any]) -> None:
    """Readings must come at least once per unit cycle for exact start-up rejects: an
    interval that makes several units shares its rejects out in proportion."""
    s = got.summary()
    for key in ("availability", "performance", "quality", "oee"):
        if truth[key] is None:
            assert s[key] is None, (name, key)
        else:
            assert s[key] == pytest.approx(truth[key], abs=1e-4), (name, key)
    for loss, minutes in truth["losses_min"].items():
        assert s["losses_min"][loss] == pytest.approx(minutes, abs=1.0), (name, loss)
    for key in ("total_count", "good_count", "startup_reject_count", "stops", "small_stops"):
        assert s[key] == truth[key], (name, key)
    if truth["kwh_per_good_unit"] is not None:
        assert s["kwh_per_good_unit"] == pytest.approx(truth["kwh_per_good_unit"], rel=0.01)
    for reason, minutes in truth["downtime_by_reason_min"].items():
        assert s["downtime_by_reason_min"][reason] == pytest.approx(minutes, abs=0.01)
    for state, kwh in truth["energy_by_state_kwh"].items():
        assert s["energy_by_state_kwh"].get(state, 0.0) == pytest.approx(kwh, rel=0.01, abs=0.01)


def check_against_truth(fleet: Fleet, analysis: Analysis) -> None:
    truth = fleet.truth_report()
    for path, kpi in analysis.machines.items():
        assert_agrees(str(path), kpi, truth["machines"][str(path)])
    for line, kpi in group(analysis.machines, "line").items():
        assert_agrees(line, kpi, truth["lines"][line])
    for site, kpi in group(analysis.machines, "site").items():
        assert_agrees(site, kpi, truth["sites"][site])
    assert len(analysis.periods) == len(truth["shifts"])
    for (period, kpis), shift in zip(analysis.periods, truth["shifts"], strict=True):
        assert period.window == Window(shift["start_ms"], shift["end_ms"])
        assert period.label.endswith(shift["shift"])
        for path, kpi in kpis.items():
            assert_agrees(f"{period.label} {path}", kpi, shift["machines"][str(path)])
        for line, kpi in group(kpis, "line").items():
            assert_agrees(f"{period.label} {line}", kpi, shift["lines"][line])


async def test_small_plant_agrees_with_the_truth_per_machine_line_and_shift(
    tmp_path: Path,
) -> None:
    plant = load_plant(PLANTS / "small.toml")
    # 30 hours from Monday 05:00 local: both of Monday's shifts and part of Tuesday's first.
    fleet = Fleet(FleetConfig(hours=30, start_ms=MIDNIGHT_VN + 5 * 3_600_000, seed=11), plant)
    await store_fleet(fleet, tmp_path / "t.db", shuffle=True)
    window = Window(fleet.start_ms, fleet.end_ms)
    analysis = await analyse(SQLiteReader(tmp_path / "t.db"), window, plant=plant, by="shift")
    assert len(analysis.machines) == 6 and len(analysis.periods) == 3
    check_against_truth(fleet, analysis)
    summary = fleet.truth_report()["plant"]
    assert summary["small_stops"] > 20 and summary["losses_min"]["startup_rejects"] > 0


async def test_large_plant_agrees_with_the_truth_across_a_shift_change(tmp_path: Path) -> None:
    plant = load_plant(PLANTS / "large.toml")
    start = MIDNIGHT_VN + 13 * 3_600_000  # 13:00 to 15:00 local: a shift change inside
    # A reading every 20 s, the shortest ideal cycle: at most one unit per interval.
    config = FleetConfig(hours=2, start_ms=start, seed=4, interval_s=20, sensors=False)
    fleet = Fleet(config, plant)
    assert len(fleet.paths) >= 500
    await store_fleet(fleet, tmp_path / "t.db")
    window = Window(fleet.start_ms, fleet.end_ms)
    analysis = await analyse(SQLiteReader(tmp_path / "t.db"), window, plant=plant, by="shift")
    assert len(analysis.periods) >= 2
    check_against_truth(fleet, analysis)


# A worked shift with every one of the six big losses, hand-computed.
T0 = 1_767_592_800_000  # 2026-01-05T06:00:00Z
SHIFT_PLANT = Plant.model_validate(
    {
        "name": "worked example",
        "micro_stop_threshold_s": 120,
        "calendar": {
            "timezone": "UTC",
            "shifts": [
                {
                    "name": "day",
                    "start": "06:00",
                    "end": "14:00",
                    "breaks": [{"start": "10:00", "minutes": 30}],
                }
            ],
        },
        "sites": [
            {
                "name": "s",
                "areas": [
                    {
                        "name": "a",
                        "lines": [
                            {
                                "name": "l",
                                "machines": [
                                    {
                                        "name": "m",
                                        "products": [{"name": "P", "ideal_cycle_s": 60}],
                                        "startup_units": 10,
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        ],
    }
)
# (minute from 06:00, state, reason)
EVENTS = [
    (0.0, "SETUP", "changeover"),  # 20 min setup
    (20.0, "RUNNING", None),
    (120.0, "DOWN", "jam"),  # 1 min: a small stop
    (121.0, "RUNNING", None),
    (180.0, "DOWN", "motor_fault"),  # 30 min: a breakdown
    (210.0, "RUNNING", None),
    (240.0, "IDLE", "break"),  # the calendar's break: not planned, whatever the state
    (270.0, "RUNNING", None),
    (360.0, "IDLE", "starved"),  # 1.5 min: a small stop
    (361.5, "RUNNING", None),
]
RUN_MIN = 100 + 59 + 30 + 90 + 118.5  # 397.5
UNITS = 360  # at 60 s ideal: 360 min of ideal time


def worked_readings() -> list[dict[str, Any]]:
    """A reading every 30 s; counters grow evenly over run time; of the first 10 units
    (start-up) 4 are rejects, of the other 350, 14."""
    rows = []
    run_min = 0.0
    for k in range(8 * 120 + 1):
        minute = k / 2
        state, reason = next((s, r) for m, s, r in reversed(EVENTS) if m <= minute)
        if k:
            prev_state = next(s for m, s, _ in reversed(EVENTS) if m <= minute - 0.5)
            run_min += 0.5 if prev_state == "RUNNING" else 0.0
        total = int(run_min * UNITS / RUN_MIN + 1e-9)
        rejects = min(total, 4) + (total - 10) * 14 // 350 if total > 10 else min(total, 4)
        row = {
            "ts": T0 + k * 30_000,
            "seq": k,
            "state": state,
            "total_count": total,
            "good_count": total - rejects,
            "ideal_cycle_s": 60.0,
        }
        if reason:
            row["reason"] = reason
        rows.append(row)
    return rows


async def test_worked_shift_with_the_six_big_losses(tmp_path: Path) -> None:
    rows = worked_readings()
    assert rows[-1]["total_count"] == UNITS and rows[-1]["good_count"] == UNITS - 18
    store = SQLiteStore(tmp_path / "t.db")
    await store.open()
    topic = "factory/v1/s/a/l/m/telemetry"
    await store.write(
        [decode(topic, json.dumps(rows[i : i + 100]).encode()) for i in range(0, len(rows), 100)]
    )
    await store.close()
    window = Window(T0, T0 + 8 * 3_600_000)
    analysis = await analyse(
        SQLiteReader(tmp_path / "t.db"), window, plant=SHIFT_PLANT, max_gap_s=120
    )
    kpi = next(iter(analysis.machines.values()))
    # Planned busy time: 480 min minus the 30-min break.
    assert kpi.planned_busy_s == 450 * 60
    losses = {k: v / 60 for k, v in kpi.losses_s.items() if v is not None}
    assert losses == pytest.approx(
        {
            "breakdowns": 30,
            "setup": 20,
            "small_stops": 2.5,
            "reduced_speed": RUN_MIN - 360,
            "startup_rejects": 4,
            "production_rejects": 14,
        }
    )
    # Every minute of planned time is accounted for.
    assert sum(losses.values()) + (UNITS - 18) == pytest.approx(450)
    assert kpi.availability == pytest.approx(400 / 450, abs=1e-4)  # 88.89 %
    assert kpi.performance == pytest.approx(360 / 400, abs=1e-4)  # 90.00 %
    assert kpi.quality == pytest.approx(342 / 360, abs=1e-4)  # 95.00 %
    assert kpi.oee == pytest.approx(0.76, abs=1e-4)
    assert (kpi.stops, kpi.small_stops) == (3, 2)
    assert kpi.downtime_by_reason_s == {
        "changeover": 1200,
        "jam": 60,
        "motor_fault": 1800,
        "starved": 90,
    }


def test_register_roll_over_is_not_a_reset() -> None:
    import numpy as np

    register = np.array([9_999.0, 9_999.5, 0.3, 1.0])
    assert counter_increments(register, rollover=10_000).tolist() == pytest.approx([0.5, 0.8, 0.7])
    # Unknown roll-over: a decrease is a reset (the meter was replaced).
    assert counter_increments(register).tolist() == pytest.approx([0.5, 0.3, 0.7])
    # A real reset far from the top is still a reset, even with a roll-over value.
    assert counter_increments(np.array([5_000.0, 2.0]), rollover=10_000).tolist() == [2.0]


async def test_a_wrong_ideal_cycle_is_flagged_not_capped(tmp_path: Path) -> None:
    rows = [dict(r, ideal_cycle_s=90.0) for r in worked_readings()]  # 90 s, really 60 s
    store = SQLiteStore(tmp_path / "t.db")
    await store.open()
    await store.write(
        [
            decode("factory/v1/s/a/l/m/telemetry", json.dumps(rows[i : i + 100]).encode())
            for i in range(0, len(rows), 100)
        ]
    )
    await store.close()
    analysis = await analyse(
        SQLiteReader(tmp_path / "t.db"), Window(T0, T0 + 8 * 3_600_000), plant=SHIFT_PLANT
    )
    kpi = next(iter(analysis.machines.values()))
    assert kpi.performance == pytest.approx(360 * 1.5 / 400)
    assert kpi.performance_suspect and kpi.summary()["performance_suspect"]
