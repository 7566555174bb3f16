"""Energy cost by time-of-use tariff: a hand-worked bill to the currency unit, holidays and
Sundays without peak, demand charge, bad tariffs refused, and the report's cost of a
simulated plant against the simulator's exact energy priced independently."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from analytics.energy.cost import cost_section
from analytics.oee.accounts import Window
from analytics.oee.book import Book
from analytics.oee.ledger import Entry
from plant.model import Plant, load_plant
from plant.oee import Oee
from plant.tariff import Tariff
from simulators.fleet import Fleet
from telemetry.topic import MachinePath
from tests.helpers.fleets import MIDNIGHT_VN, PLANTS, report_of

Q = 900_000
HOUR = 3_600_000
PEAK, NORMAL, OFF = 3266, 1811, 1146


@pytest.fixture(scope="module")
def plant() -> Plant:
    return load_plant(PLANTS / "small.toml")


def _book(plant: Plant, blocks: dict[MachinePath, list[tuple[int, float]]], good: int) -> Book:
    start = min(t for b in blocks.values() for t, _ in b)
    end = max(t for b in blocks.values() for t, _ in b) + Q
    entries = {
        p: Entry(path=p, start_ms=start, end_ms=end, blocks=tuple(b),
                 kpi=Oee(good_count=good, total_count=good,
                         energy_kwh=sum(k for _, k in b),
                         energy_by_state_kwh={"RUNNING": sum(k for _, k in b)}))
        for p, b in blocks.items()
    }  # fmt: skip
    return Book(window=Window(start, end), entries=entries)


def test_a_hand_worked_bill_to_the_currency_unit(plant: Plant) -> None:
    monday = MIDNIGHT_VN  # 2026-01-05, a working Monday
    press = MachinePath("plant1", "assembly", "line1", "press01")
    welder = MachinePath("plant1", "assembly", "line1", "welder")
    blocks = {
        press: [(monday + 9 * HOUR + 30 * 60_000, 2.0),  # 09:30 peak
                (monday + 9 * HOUR + 45 * 60_000, 1.0),  # 09:45 peak
                (monday + 12 * HOUR, 4.0)],  # 12:00 normal
        welder: [(monday + 23 * HOUR, 3.0)],  # 23:00 off-peak
    }  # fmt: skip
    book = _book(plant, blocks, good=50)
    cost = cost_section(book, book.machines, plant)
    assert cost is not None
    # 2 x 3266 + 1 x 3266 + 4 x 1811 + 3 x 1146 = 6532 + 3266 + 7244 + 3438 = 20,480 VND.
    assert cost["plant"]["cost"] == 20_480
    assert cost["plant"]["kwh"] == 10.0
    assert cost["plant"]["peak_share"] == pytest.approx(0.3)
    assert cost["plant"]["cost_per_good_unit"] == pytest.approx(20_480 / 100)
    assert cost["plant"]["cost_by_band"] == {"normal": 7244, "off_peak": 3438, "peak": 9798}
    assert cost["machines"][str(press)]["cost"] == 17_042
    assert cost["lines"]["plant1/assembly/line1"]["cost"] == 20_480
    assert cost["decimals"] == 0 and cost["currency"] == "VND"
    # Demand: the highest 15-minute block is 4 kWh at 12:00: 16 kW (no charge declared).
    assert cost["demand"]["plant1"] == {"kw": 16.0, "block_start_ms": monday + 12 * HOUR,
                                        "charge": 0}  # fmt: skip


def test_holidays_and_sundays_have_no_peak(plant: Plant) -> None:
    new_year = int(dt.datetime(2026, 1, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=7)))
                   .timestamp() * 1000)  # fmt: skip
    sunday = MIDNIGHT_VN - 14 * HOUR  # 2026-01-04 10:00, a Sunday
    holiday = plant.model_copy(update={"calendar": plant.calendar.model_copy(
        update={"holidays": (dt.date(2026, 1, 1),)})})  # fmt: skip
    m = MachinePath("plant1", "assembly", "line1", "press01")
    for when in (new_year, sunday):
        book = _book(holiday, {m: [(when, 1.0)]}, good=1)
        cost = cost_section(book, book.machines, holiday)
        assert cost is not None and cost["plant"]["cost"] == NORMAL, when
    book = _book(plant, {m: [(new_year, 1.0)]}, good=1)  # not a holiday in this calendar
    cost = cost_section(book, book.machines, plant)
    assert cost is not None and cost["plant"]["cost"] == PEAK


def test_a_half_hour_demand_charge(plant: Plant) -> None:
    assert plant.tariff is not None
    tariff = plant.tariff.model_copy(update={"demand_charge_per_kw": 100_000.0,
                                             "demand_block_minutes": 30})  # fmt: skip
    charged = plant.model_copy(update={"tariff": tariff})
    m = MachinePath("plant1", "assembly", "line1", "press01")
    t = MIDNIGHT_VN + 12 * HOUR
    book = _book(charged, {m: [(t, 4.0), (t + Q, 2.0), (t + 2 * Q, 5.0)]}, good=1)
    cost = cost_section(book, book.machines, charged)
    assert cost is not None
    # Half hours aligned to the clock with both blocks: 12:00 (4 + 2 kWh = 12 kW); 12:30 has
    # one block only and does not count.
    assert cost["demand"]["plant1"] == {"kw": 12.0, "block_start_ms": t, "charge": 1_200_000}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"hours": ("09:20-11:30",)}, "quarter hours"),
        ({"hours": ("10:00-10:00",)}, "empty or whole-day"),
        ({"hours": ("23:00-01:00",), "name": "night"}, "overlap"),
    ],
)
def test_bad_tariffs_are_refused(plant: Plant, change: dict[str, Any], words: str) -> None:
    assert plant.tariff is not None
    bands = list(plant.tariff.bands)
    bands.append(bands[1].model_copy(update={"name": "extra", **change}).model_dump())
    with pytest.raises(ValidationError, match=words):
        Tariff.model_validate({**plant.tariff.model_dump(), "bands": bands})
    with pytest.raises(ValidationError, match="is not a band"):
        Tariff.model_validate({**plant.tariff.model_dump(), "default_band": "cheap"})


def _price(ms: int) -> int:
    """The small plant's tariff, written out independently of analytics.energy.cost."""
    local = dt.datetime.fromtimestamp(ms / 1000, dt.timezone(dt.timedelta(hours=7)))
    minute = local.hour * 60 + local.minute
    if minute >= 22 * 60 or minute < 4 * 60:
        return OFF
    peak = 570 <= minute < 690 or 1020 <= minute < 1200
    if peak and local.weekday() < 6 and local.date() != dt.date(2026, 9, 2):
        return PEAK
    return NORMAL


async def test_the_report_prices_the_simulators_energy(
    small_plant: tuple[Fleet, Path],
) -> None:
    fleet, db = small_plant
    report = await report_of(fleet, db)
    cost = report["energy"]["cost"]
    edges = np.arange(fleet.start_ms, fleet.end_ms + 1, Q, dtype=np.int64)
    expected = 0.0
    for s in fleet.streams:
        kwh = np.diff(s.run.energy_kwh(edges))
        expected += sum(float(k) * _price(int(t)) for t, k in zip(edges[:-1], kwh, strict=True))
    assert cost["plant"]["cost"] == pytest.approx(expected, rel=2e-3)
    (meter,) = fleet.meters
    site = np.diff(meter.total_kwh(edges))
    site_cost = sum(float(k) * _price(int(t)) for t, k in zip(edges[:-1], site, strict=True))
    assert cost["sites"]["plant1"]["priced_on"] == "main meter"
    assert cost["sites"]["plant1"]["cost"] == pytest.approx(site_cost, rel=2e-3)
    assert 0 < cost["plant"]["peak_share"] < 0.5
    assert 0 < cost["idle_at_peak"]["kwh"] < report["energy"]["plant"]["energy_kwh"]


def test_the_forecast_takes_its_peak_hours_from_the_tariff(plant: Plant) -> None:
    from analytics.forecast.model import clock, features
    from analytics.forecast.outlook import PeakHours

    assert plant.tariff is not None
    peak = PeakHours.of_tariff(plant.tariff)
    assert peak.labels() == ["09:30-11:30", "17:00-20:00"]
    ck = clock(MIDNIGHT_VN, 7 * 96, plant.calendar.timezone)  # Monday to Sunday
    mask = peak.mask(features([], ck))
    assert mask.sum() == 6 * 20  # 5 h a day, Monday to Saturday
    assert not mask[6 * 96 :].any()  # Sunday


async def test_every_period_has_its_bill(small_plant: tuple[Fleet, Path]) -> None:
    fleet, db = small_plant
    hourly = await report_of(fleet, db, by="hour")
    whole = hourly["energy"]["cost"]["plant"]["cost"]
    costs = [p["cost"]["plant"]["cost"] for p in hourly["periods"]]
    # The hours tile the window, and each rounds to the dong.
    assert sum(costs) == pytest.approx(whole, abs=len(costs))
    shifts = await report_of(fleet, db, by="shift")
    for p in shifts["periods"]:
        a = int(dt.datetime.fromisoformat(p["from"]).timestamp() * 1000)
        b = int(dt.datetime.fromisoformat(p["to"]).timestamp() * 1000)
        edges = np.arange(a, b + 1, Q, dtype=np.int64)
        expected = sum(
            float(k) * _price(int(t))
            for s in fleet.streams
            for t, k in zip(edges[:-1], np.diff(s.run.energy_kwh(edges)), strict=True)
        )
        assert p["cost"]["plant"]["cost"] == pytest.approx(expected, rel=2e-3), p["period"]
        lines = p["cost"]["lines"]
        assert sum(v["cost"] for v in lines.values()) == pytest.approx(
            p["cost"]["plant"]["cost"], abs=len(lines)
        )
