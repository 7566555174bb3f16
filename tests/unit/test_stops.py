"""What a stop is, once: the machine page, the reasons panel and the breakdown alert all see
the same stops of the same readings."""

from __future__ import annotations

from pathlib import Path

from analytics.oee.accounts import Params, Window, machine_params
from analytics.oee.stops import breakdowns, of_readings, of_timeline
from analytics.oee.timeline import build_timeline
from dashboard import views
from store.series import MachineData, telemetry_series
from telemetry.topic import MachinePath
from tests.helpers.plants import one_machine_plant

M = MachinePath("s", "a", "l", "m")
S = 1000
H = 3_600_000
LOOSE = Params(max_gap_s=300.0, micro_stop_threshold_s=120.0)


def readings(
    rows: list[tuple[int, str, str | None]], t0: int = 0
) -> dict[MachinePath, MachineData]:
    """(second, state, reason) rows as one machine's readings, from ``t0``."""
    n = len(rows)
    cols = [[t0 + s * S for s, _, _ in rows], [st for _, st, _ in rows], [0] * n, [0] * n,
            [30.0] * n, [r for _, _, r in rows]]  # fmt: skip
    return {M: MachineData(telemetry_series(cols), None)}


# RUN; IDLE (no reason) then DOWN "jam", touching: one stop of 300 s; RUN; a 20 s IDLE "jam"
# (a small stop); SETUP "changeover" then SETUP "tooling": one setup; RUN; DOWN until the end.
ROWS = [
    (0, "RUNNING", None), (60, "IDLE", None), (180, "DOWN", "jam"), (360, "RUNNING", None),
    (480, "IDLE", "jam"), (500, "RUNNING", None), (560, "SETUP", "changeover"),
    (620, "SETUP", "tooling"), (800, "RUNNING", None), (900, "DOWN", "motor"),
    (1000, "DOWN", "motor"),
]  # fmt: skip


def test_touching_stop_runs_are_one_stop_whatever_their_reasons() -> None:
    data = readings(ROWS)
    found = of_readings(data, lambda _p: LOOSE, Window(0, 2000 * S))
    assert [(s.start_ms // S, s.end_ms // S, s.state, s.reason, s.loss, s.open) for s in found] == [
        (60, 360, "IDLE", "unspecified", "breakdown", False),
        (480, 500, "IDLE", "jam", "small_stop", False),
        (560, 800, "SETUP", "changeover", "setup", False),
        (900, 1000, "DOWN", "motor", "small_stop", True),  # 100 s so far
    ]  # fmt: skip


def test_the_machine_page_and_the_reasons_panel_list_the_same_stops() -> None:
    data = readings(ROWS)
    d = data[M]
    assert d.telemetry is not None
    window = Window(0, 2000 * S)
    page = views.stops(build_timeline(d.telemetry, None, LOOSE), M, window)
    assert [(s["start_ms"] // S, s["loss"], s["minutes"]) for s in page] == [
        (60, "breakdown", 5.0), (560, "setup", 4.0), (900, "small_stop", 1.67),
        (480, "small_stop", 0.33),
    ]  # fmt: skip
    panel = breakdowns(of_readings(data, lambda _p: LOOSE, window), window)
    assert [(s.start_ms, s.end_ms) for s in panel] == [
        (s["start_ms"], s["end_ms"]) for s in page if s["loss"] == "breakdown"
    ]
    # The page cuts a stop to its window; the panel lists those that began in it.
    part = Window(120 * S, 2000 * S)
    assert views.stops(build_timeline(d.telemetry, None, LOOSE), M, part)[0]["start_ms"] == 120 * S
    assert breakdowns(of_readings(data, lambda _p: LOOSE, part), part) == []


def test_only_planned_time_has_stops(tmp_path: Path) -> None:
    """The one-machine plant works 06:00-14:00 UTC: a machine down from 05:00 to 07:00 has a
    stop from 06:00; one down at 15:00 has none."""
    plant = one_machine_plant(tmp_path, site="s")
    day = 1_767_571_200_000  # 2026-01-05T00:00Z
    rows = [(5 * 3600 + k * 30, "DOWN", "jam") for k in range(240)]  # 05:00 to 07:00
    rows += [(7 * 3600 + k * 30, "RUNNING", None) for k in range(240)]
    rows += [(15 * 3600 + k * 30, "DOWN", "jam") for k in range(60)]
    data = readings(rows, t0=day)
    found = of_readings(data, machine_params(plant, 60.0), Window(day, day + 24 * H))
    assert [(s.start_ms - day, s.end_ms - day, s.loss) for s in found] == [
        (6 * H, 7 * H, "breakdown")
    ]


def test_a_stop_is_cut_where_data_is_missing() -> None:
    rows = [(0, "DOWN", "jam"), (30, "DOWN", "jam"), (400, "DOWN", "jam"), (430, "RUNNING", None)]
    tight = Params(max_gap_s=60.0, micro_stop_threshold_s=120.0)
    d = readings(rows)[M]
    assert d.telemetry is not None
    found = of_timeline(build_timeline(d.telemetry, None, tight), M, Window(0, 1000 * S))
    assert [(s.start_ms // S, s.end_ms // S, s.loss) for s in found] == [
        (0, 90, "small_stop"),
        (400, 430, "small_stop"),
    ]
