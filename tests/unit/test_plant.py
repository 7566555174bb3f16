"""The plant model file: examples, calendar arithmetic, errors, and the simulator following it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from plant.model import Calendar, PlantModelError, json_schema, load_plant
from simulators import Fleet, FleetConfig
from simulators.machine import OFF, PLANNED, RUN, SETUP

ROOT = Path(__file__).parents[2]
SMALL = ROOT / "deploy" / "plants" / "small.toml"
LARGE = ROOT / "deploy" / "plants" / "large.toml"
HCM = dt.timezone(dt.timedelta(hours=7))


def ms(*args: int, tz: dt.tzinfo = HCM) -> int:
    return int(dt.datetime(*args, tzinfo=tz).timestamp() * 1000)


def test_examples_load() -> None:
    small, large = load_plant(SMALL), load_plant(LARGE)
    assert len(small.machines()) == 6
    assert {p.line for p, _ in small.machines()} == {"line1", "line2"}
    assert len(large.machines()) == 500
    assert len({p.site for p, _ in large.machines()}) == 2
    assert len({(p.site, p.line) for p, _ in large.machines()}) == 20


def test_committed_schema_is_current() -> None:
    doc = json.loads((ROOT / "docs" / "plant-model.schema.json").read_text())
    assert doc == json.loads(json.dumps(json_schema(), default=str)), (
        "regenerate: python -m plant.model > docs/plant-model.schema.json"
    )


def test_calendar_periods_with_breaks_weekends_holidays_and_night_shifts() -> None:
    cal = Calendar.model_validate(
        {
            "timezone": "Asia/Ho_Chi_Minh",
            "non_working_days": ["Sun"],
            "holidays": ["2026-01-07"],
            "shifts": [
                {"name": "day", "start": "06:00", "end": "14:00",
                 "breaks": [{"start": "10:00", "minutes": 30}]},
                {"name": "night", "start": "22:00", "end": "06:00",
                 "breaks": [{"start": "02:00", "minutes": 20}]},
            ],
        }
    )  # fmt: skip
    # Monday 2026-01-05 00:00 to Thursday 00:00 local time.
    periods = cal.periods(ms(2026, 1, 5), ms(2026, 1, 8))
    shifts = [(a, b, n) for a, b, k, n in periods if k == "shift"]
    breaks = [(a, b) for a, b, k, _ in periods if k == "break"]
    # Sunday's night shift (starting Sunday 22:00) does not run; Monday's does.
    assert shifts[0] == (ms(2026, 1, 5, 6), ms(2026, 1, 5, 14), "day")
    assert (ms(2026, 1, 5, 22), ms(2026, 1, 6, 6), "night") in shifts
    assert (ms(2026, 1, 6, 2), ms(2026, 1, 6, 2, 20)) in breaks
    # The holiday (Wednesday) has no shifts starting on it.
    assert not [s for s in shifts if ms(2026, 1, 7) <= s[0] < ms(2026, 1, 8)]
    assert len(shifts) == 4  # Mon day + night, Tue day + night


def test_errors_say_where(tmp_path: Path) -> None:
    bad = {
        "timezone": 'name = "x"\n[calendar]\ntimezone = "Mars/Olympus"\n[[calendar.shifts]]\n'
        'name = "a"\nstart = "06:00"\nend = "14:00"\n',
        "ends after the shift": 'name = "x"\n[calendar]\n[[calendar.shifts]]\nname = "a"\n'
        'start = "06:00"\nend = "07:00"\nbreaks = [{ start = "06:50", minutes = 30 }]\n',
        "not valid TOML": "name = \n",
    }
    for expected, text in bad.items():
        f = tmp_path / "p.toml"
        f.write_text(text)
        with pytest.raises(PlantModelError, match=expected):
            load_plant(f)
    dup = SMALL.read_text().replace('name = "welder"', 'name = "press01"')
    f = tmp_path / "dup.toml"
    f.write_text(dup)
    with pytest.raises(PlantModelError, match="defined twice"):
        load_plant(f)
    with pytest.raises(PlantModelError, match="not found"):
        load_plant(tmp_path / "missing.toml")


def test_simulation_follows_the_calendar() -> None:
    plant = load_plant(SMALL)
    fleet = Fleet(FleetConfig(hours=24, start_ms=ms(2026, 1, 5), seed=3), plant)  # a Monday
    for stream in fleet.streams:
        run = stream.run
        dur_h = (run.seg_end - run.seg_start) / 3.6e6
        assert dur_h[run.seg_state == OFF].sum() == pytest.approx(8.0)  # 22:00 to 06:00
        assert dur_h[run.seg_state == PLANNED].sum() == pytest.approx(2.0)  # 2 x (15+30+15) min
        assert (run.seg_state == SETUP).sum() == 2  # a changeover in each shift
        first_run = run.seg_start[np.flatnonzero(run.seg_state == RUN)[0]]
        assert first_run == ms(2026, 1, 5, 6)
    truth = fleet.truth()
    assert all(t.planned_busy_s == pytest.approx(14 * 3600) for t in truth.values())
    sunday = Fleet(FleetConfig(hours=24, start_ms=ms(2026, 1, 4), seed=3), plant)
    assert all(t.planned_busy_s == 0 for t in sunday.truth().values())


def test_a_day_without_shifts_has_no_oee_rather_than_zero() -> None:
    sunday = Fleet(FleetConfig(hours=24, start_ms=ms(2026, 1, 4), seed=3), load_plant(SMALL))
    for t in sunday.truth().values():
        assert t.planned_busy_s == 0
        assert t.availability is None and t.oee is None
