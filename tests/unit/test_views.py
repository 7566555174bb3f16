"""The dashboard's windows (shift-aware with a plant model), targets and a machine's stops."""

from __future__ import annotations

from analytics.oee.accounts import Window
from dashboard import views
from plant.model import load_plant
from tests.helpers.fleets import MIDNIGHT_VN, PLANTS

HOUR = 3_600_000


def test_windows_follow_the_plant_calendar_and_its_time_zone() -> None:
    plant = load_plant(PLANTS / "small.toml")  # shifts 06-14 and 14-22, Asia/Ho_Chi_Minh
    now = MIDNIGHT_VN + 7 * 86_400_000 + 15 * HOUR  # next Monday, 15:00 local
    found = {w["id"]: w for w in views.presets(plant, now, Window(now - 8 * HOUR, now))}
    assert found["current_shift"] == {"id": "current_shift", "label": "Current shift (afternoon)",
                                      "text": "Current shift ({name})", "name": "afternoon",
                                      "from_ms": now - HOUR, "to_ms": now}  # fmt: skip
    assert found["previous_shift"]["label"] == "Previous shift (morning)"
    assert (found["previous_shift"]["from_ms"], found["previous_shift"]["to_ms"]) == (
        now - 9 * HOUR, now - HOUR)  # fmt: skip
    assert found["today"]["from_ms"] == now - 15 * HOUR  # local midnight, not UTC's
    assert found["yesterday"]["to_ms"] == found["today"]["from_ms"]
    assert found["yesterday"]["from_ms"] == found["today"]["from_ms"] - 86_400_000
    assert found["this_week"]["from_ms"] == found["today"]["from_ms"]  # a Monday
    assert found["last_30_days"]["from_ms"] == now - 30 * 86_400_000
    assert found["default"]["from_ms"] == now - 8 * HOUR


def test_the_previous_shift_is_the_last_one_worked_over_a_weekend() -> None:
    plant = load_plant(PLANTS / "small.toml")
    sunday_noon = MIDNIGHT_VN + 6 * 86_400_000 + 12 * HOUR  # no shifts on Sunday
    found = {w["id"]: w for w in views.presets(plant, sunday_noon, Window(0, sunday_noon))}
    assert found["current_shift"]["label"] == "Last shift (afternoon)"
    saturday_or_friday_22 = found["current_shift"]["to_ms"]
    assert (sunday_noon - saturday_or_friday_22) % 86_400_000 == 14 * HOUR


def test_without_a_plant_days_are_utc_days_and_there_are_no_shifts() -> None:
    now = 1_767_614_400_000  # 2026-01-05T12:00Z
    found = {w["id"]: w for w in views.presets(None, now, Window(now - HOUR, now))}
    assert "current_shift" not in found and "previous_shift" not in found
    assert found["today"]["from_ms"] == now - 12 * HOUR
    assert views.targets(None) == {}


def test_targets_default_to_world_class() -> None:
    plant = load_plant(PLANTS / "small.toml")
    assert views.targets(plant) == {"plant1/assembly/line1": 0.85, "plant1/assembly/line2": 0.85}


def test_identical_findings_are_one_check_with_their_machines() -> None:
    from analytics.oee.analysis import checks
    from analytics.report.model import Check
    from core.i18n import Lang
    from factory_cli.render import checked

    gap = "no data for 420 min of the window"
    found = [f"s/a/l/m{i}: {gap}" for i in (2, 1, 3, 4)]
    found += ["s/a/l/m1: no energy meter readings", "the plant model names no main meter"]
    got = [Check.model_validate(c) for c in checks(found)]
    assert [(c.finding, c.subjects) for c in got] == [
        (gap, ["s/a/l/m1", "s/a/l/m2", "s/a/l/m3", "s/a/l/m4"]),
        ("no energy meter readings", ["s/a/l/m1"]),
        ("the plant model names no main meter", []),
    ]
    assert checked(got[0]) == f"4 machines: {gap} (s/a/l/m1, s/a/l/m2, s/a/l/m3, …)"
    assert checked(got[1]) == "s/a/l/m1: no energy meter readings"
    assert checked(got[0], Lang("vi")).startswith(f"4 máy: {gap}")
