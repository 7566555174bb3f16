"""The energy load forecast: exact on a load that repeats each week, the calendar and the
production plan move it, intervals that cover, clear errors without history."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from analytics.config import ForecastConfig
from analytics.forecast.model import (
    DAY_SLOTS,
    SLOT_MS,
    ForecastError,
    clock,
    coverage,
    features,
    fit,
    pinball,
    seasonal_naive,
    wape,
)
from analytics.forecast.outlook import History, PeakHours, forecast, outlook
from benchmarks import forecast as backtest
from plant.model import Plant, load_plant
from plant.plan import PlanError, parse_plan

ZONE = dt.timezone(dt.timedelta(hours=7))
MONDAY = int(dt.datetime(2026, 1, 5, tzinfo=ZONE).timestamp() * 1000)
DAY = 86_400_000
WEEK = 7 * DAY


@pytest.fixture(scope="module")
def plant() -> Plant:
    return load_plant("deploy/plants/small.toml")


def _weekly(rng: np.random.Generator, plant: Plant, weeks: int) -> tuple[np.ndarray, np.ndarray]:
    """A load that repeats each week exactly: any profile, higher in shifts."""
    n = weeks * 7 * DAY_SLOTS
    ck = clock(MONDAY, n, plant.calendar.timezone)
    f = features(plant.calendar.periods(MONDAY, MONDAY + n * SLOT_MS), ck)
    week = rng.uniform(5, 40, 7 * DAY_SLOTS) + 60 * f.shift[: 7 * DAY_SLOTS]
    return np.tile(week, weeks), f.shift


def test_a_load_that_repeats_each_week_is_forecast_exactly(plant: Plant) -> None:
    rng = np.random.default_rng(5)
    kw, _ = _weekly(rng, plant, 4)
    history = History(MONDAY, {"plant1/assembly/line1": kw[: 3 * 7 * DAY_SLOTS]}, {})
    (line, site) = forecast(plant, history, horizon=7 * DAY_SLOTS)
    truth = kw[3 * 7 * DAY_SLOTS :]
    np.testing.assert_allclose(line.q[:, 1], truth, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(site.q[:, 1], truth, rtol=1e-6, atol=1e-6)
    # Nothing varies, so the interval is the point.
    np.testing.assert_allclose(line.q[:, 0], line.q[:, 2], atol=1e-6)


def test_one_day_of_history_follows_the_calendar(plant: Plant) -> None:
    kw, shift = _weekly(np.random.default_rng(6), plant, 1)
    daily = np.tile(kw[:DAY_SLOTS], 2)  # Monday, then Tuesday alike
    history = History(MONDAY, {"plant1/assembly/line1": daily[:DAY_SLOTS]}, {})
    (line, _) = forecast(plant, history)
    in_shift = shift[DAY_SLOTS : 2 * DAY_SLOTS] >= 0.5
    p50 = line.q[:, 1]
    assert p50[in_shift].mean() > 2 * p50[~in_shift].mean()
    assert wape(daily[DAY_SLOTS:], p50) < 0.25


def test_a_holiday_in_the_calendar_drops_that_days_forecast(plant: Plant) -> None:
    rng = np.random.default_rng(7)
    kw, _ = _weekly(rng, plant, 3)
    kw = kw + rng.normal(0, 2, len(kw))
    history = History(MONDAY, {"plant1/assembly/line1": kw}, {})
    # The day after the history is a Monday; make it a holiday.
    monday = dt.date(2026, 1, 26)
    holiday = plant.model_copy(update={"calendar": plant.calendar.model_copy(
        update={"holidays": (monday,)})})  # fmt: skip
    (normal, _) = forecast(plant, history)
    (off, _) = forecast(holiday, history)
    sunday = kw[-DAY_SLOTS:]  # the history's last day, no shifts
    assert normal.q[:, 1].sum() > 2 * off.q[:, 1].sum()
    assert off.q[:, 1].sum() == pytest.approx(sunday.sum(), rel=0.1)


def test_the_plan_cuts_and_adds_shifts_for_one_line(plant: Plant) -> None:
    text = (
        "date,shift,line,planned_hours\n"
        "2026-01-06,afternoon,plant1/assembly/line2,0\n"
        "2026-01-05,morning,plant1/assembly/line1,4\n"
        "2026-01-11,morning,plant1/assembly/line1,8\n"  # a Sunday: overtime
    )
    plan = parse_plan(text, plant)
    cal = plant.calendar
    end = MONDAY + WEEK

    def shift_hours(line: str, day: int) -> float:
        a, b = MONDAY + day * DAY, MONDAY + (day + 1) * DAY
        return sum(y - x for x, y, k, _ in plan.periods(cal, line, a, b) if k == "shift") / 3.6e6

    assert shift_hours("plant1/assembly/line1", 0) == 12  # 4 + 8
    assert shift_hours("plant1/assembly/line2", 0) == 16
    assert shift_hours("plant1/assembly/line2", 1) == 8
    assert shift_hours("plant1/assembly/line1", 6) == 8
    assert shift_hours("plant1/assembly/line2", 6) == 0
    cut = plan.periods(cal, "plant1/assembly/line1", MONDAY, end)
    # The morning shift ends at 10:00; its breaks after that are gone.
    ten = MONDAY + 10 * 3_600_000
    assert (MONDAY + 6 * 3_600_000, ten, "shift", "morning") in cut
    assert not [p for p in cut if p[2] == "break" and ten <= p[0] < ten + 4 * 3_600_000]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("day,shift\n", "header must be"),
        ("date,shift,line,planned_hours\n2026-13-01,morning,plant1/assembly/line1,1\n",
         "row 2: date"),
        ("date,shift,line,planned_hours\n2026-01-05,night,plant1/assembly/line1,1\n",
         "no shift 'night'"),
        ("date,shift,line,planned_hours\n2026-01-05,morning,plant1/x/../line1,1\n", "no line"),
        ("date,shift,line,planned_hours\n2026-01-05,morning,plant1/assembly/line1,9\n",
         "outside 0..8"),
        ("date,shift,line,planned_hours\n2026-01-05,morning,plant1/assembly/line1,nan?\n",
         "not a number"),
        ("date,shift,line,planned_hours\n2026-01-05,morning,plant1/assembly/line1,1\n"
         "2026-01-05,morning,plant1/assembly/line1,2\n", "row 3: plant1/assembly/line1"),
    ],
)  # fmt: skip
def test_a_bad_plan_names_the_row_and_the_fix(plant: Plant, text: str, message: str) -> None:
    with pytest.raises(PlanError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_plan(text, plant)


def test_no_history_is_a_clear_error(plant: Plant) -> None:
    with pytest.raises(ForecastError, match="no metered line or main meter"):
        forecast(plant, History(MONDAY, {}, {}))
    short = History(MONDAY, {"plant1/assembly/line1": np.full(DAY_SLOTS, np.nan)}, {})
    with pytest.raises(ForecastError, match=r"line plant1/assembly/line1: 0 metered .* needed"):
        forecast(plant, short)


def test_measures_on_hand_worked_numbers() -> None:
    a = np.array([10.0, 20.0, 30.0])
    f = np.array([12.0, 18.0, 30.0])
    assert wape(a, f) == pytest.approx(4 / 60)
    q = np.array([[8.0, 10.0, 12.0], [21.0, 22.0, 23.0], [25.0, 30.0, 35.0]])
    assert coverage(a, q) == pytest.approx(2 / 3)
    # max(tau * (a - q), (tau - 1) * (a - q)) for tau 0.1, 0.5, 0.9 in each block.
    losses = [0.1 * 2, 0, 0.1 * 2, 0.9 * 1, 0.5 * 2, 0.1 * 3, 0.1 * 5, 0, 0.1 * 5]
    assert pinball(a, q) == pytest.approx(sum(losses) / 9) == pytest.approx(0.4)


def test_seasonal_naive_repeats_last_weeks_block_of_the_same_regime(plant: Plant) -> None:
    n = 2 * 7 * DAY_SLOTS
    ck = clock(MONDAY, n + DAY_SLOTS, plant.calendar.timezone)
    f = features(plant.calendar.periods(MONDAY, MONDAY + (n + DAY_SLOTS) * SLOT_MS), ck)
    kw = np.arange(n, dtype=np.float64)
    got = seasonal_naive(f.part(0, n), kw, f.part(n, n + DAY_SLOTS))
    np.testing.assert_array_equal(got, kw[n - 7 * DAY_SLOTS : n - 6 * DAY_SLOTS])


def test_peak_hours_and_flexible_loads(plant: Plant) -> None:
    rng = np.random.default_rng(8)
    kw, _ = _weekly(rng, plant, 2)
    meter = kw * 1.5 + 20
    history = History(MONDAY, {"plant1/assembly/line1": kw}, {"plant1": meter},
                      {"plant1/assembly/line1": 3.0})  # fmt: skip
    contract = plant.sites[0].main_meter.model_copy(update={"contracted_kw": 50.0})  # type: ignore[union-attr]
    site = plant.sites[0].model_copy(update={"main_meter": contract})
    plant = plant.model_copy(update={"sites": (site,)})
    cfg = ForecastConfig(peak_hours="09:30-11:30,17:00-20:00")
    out = outlook(plant, history, peak=PeakHours(cfg.bands(), cfg.peak_days), warn_share=0.9)
    doc = out.as_dict()
    # The day after the history is a Monday: 2 h + 3 h of peak, 20 blocks.
    assert out.peak_mask.sum() == 20
    (demand,) = doc["demand"]
    assert demand["contracted_kw"] == 50.0 and demand["warning_kw"] == 45.0
    assert demand["approaching"], "a load of 60-100 kW in shifts approaches 45 kW"
    loads = {(f["load"], f["target"]): f for f in doc["flexible"]}
    line = out.targets[0]
    assert loads[("production", "plant1/assembly/line1")]["kwh_in_peak"] == pytest.approx(
        line.q[out.peak_mask, 1].sum() / 4, abs=0.05
    )
    # Idle base load: 3 kW over the planned hours inside the peak (all 5 h are in shifts).
    assert loads[("idle base load", "plant1/assembly/line1")]["kwh_in_peak"] == pytest.approx(
        3.0 * float(out.shift_share["plant1/assembly/line1"][out.peak_mask].sum()) / 4
    )
    assert ("non-production", "plant1") in loads
    kwh = [f["kwh_in_peak"] for f in doc["flexible"]]
    assert kwh == sorted(kwh, reverse=True)


def test_bad_peak_hours_are_refused() -> None:
    with pytest.raises(ValueError, match="end must be after the start"):
        ForecastConfig(peak_hours="11:30-09:30")
    with pytest.raises(ValueError, match="String should match pattern"):
        ForecastConfig(peak_hours="9-11")


def test_the_backtest_beats_both_baselines_with_an_honest_interval() -> None:
    base = load_plant("deploy/plants/small.toml")
    r = backtest.run_seed(base, 4, 3, 7)
    scores = backtest.scores(*r.pop("_arrays"))
    assert scores["wape"] < 0.8 * scores["wape_seasonal_naive"]
    assert scores["wape"] < 0.8 * scores["wape_baseline"]
    assert 0.65 <= scores["coverage_80"] <= 0.92


def test_a_model_fitted_on_noise_has_the_noise_as_its_interval() -> None:
    rng = np.random.default_rng(9)
    n = 4 * 7 * DAY_SLOTS
    ck = clock(MONDAY, n + DAY_SLOTS, "Asia/Ho_Chi_Minh")
    f = features([], ck)
    kw = 50 + rng.normal(0, 5, n)
    model = fit(f.part(0, n), kw)
    q = model.predict(f.part(n, n + DAY_SLOTS))
    # 10th and 90th percentiles of N(50, 5): 50 -/+ 6.4.
    assert q[:, 0].mean() == pytest.approx(50 - 6.4, abs=0.8)
    assert q[:, 2].mean() == pytest.approx(50 + 6.4, abs=0.8)
