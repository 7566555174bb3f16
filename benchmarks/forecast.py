"""Backtest of the energy load forecast on simulated plants, against two baselines.

For each seed, the simulator runs a plant (``deploy/plants/small.toml`` by default) for
``--weeks`` of history and ``--test-days`` after it, with a holiday on the first test week's
Wednesday (in the plant's calendar, so the forecast knows it) and a production plan that
changes: the second line does not run the second shift on the first test week's Thursday to
Saturday, the first line runs only half of the first shift on the second test week's
Tuesday and works an added first shift on its Sunday. Every day of the test period at 00:00 local
time (a rolling origin) each method forecasts the next 24 hours of every line and site from
the history before the origin (at most ``--weeks`` weeks); the truth is the simulator's
exact energy per 15-minute block.

- ``wape``: our forecast's p50, weighted absolute percentage error over every block of
  every line and site of every origin and seed (sum |error| / sum actual);
- ``wape_seasonal_naive``: the same 15 minutes a week earlier, or the latest day whose block
  was of the same regime (in a shift or not; the calendar and the plan say);
- ``wape_baseline``: the analytics' hourly baseline ``kWh = a + b x units`` fitted on the
  history, fed the units of the seasonal-naive hour;
- ``pinball``: mean pinball loss of our p10/p50/p90 in kW (``pinball_seasonal_naive`` scores
  the naive point forecast the same way);
- ``coverage_80``: share of actuals inside our [p10, p90];
- ``train_seconds``: the longest time one origin took to fit every target's model.

The figures per seed and per week (holiday week, plan-change week) are printed too; the
last line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from analytics.forecast.model import (
    SLOT_MS,
    clock,
    coverage,
    features,
    hourly_baseline,
    pinball,
    seasonal_naive,
    wape,
)
from analytics.forecast.outlook import History, forecast
from plant.model import Plant, load_plant
from plant.plan import Plan
from simulators.fleet import Fleet, FleetConfig

DAY_MS = 86_400_000


def scenario(plant: Plant, weeks: int, test_days: int) -> tuple[Plant, Plan, int, int]:
    """The plant with the test period's holiday, the plan, the start and the first origin."""
    zone = dt.timezone(dt.timedelta(hours=7))  # Asia/Ho_Chi_Minh has no DST
    first = dt.date(2026, 1, 5)  # a Monday
    test = first + dt.timedelta(weeks=weeks)
    start = int(dt.datetime.combine(first, dt.time(), zone).timestamp() * 1000)
    holiday = test + dt.timedelta(days=2)
    cal = plant.calendar.model_copy(update={"holidays": (*plant.calendar.holidays, holiday)})
    plant = plant.model_copy(update={"calendar": cal})
    lines = [line for line in plant.lines() if not line.endswith("/main")]
    shifts = cal.shifts
    first_shift, second = shifts[0], shifts[min(1, len(shifts) - 1)]
    hours: dict[tuple[str, dt.date, str], float] = {}
    if len(lines) >= 2:
        for d in (3, 4, 5):
            hours[(lines[1], test + dt.timedelta(days=d), second.name)] = 0.0
    if test_days > 8:
        hours[(lines[0], test + dt.timedelta(days=8), first_shift.name)] = (
            first_shift.length_min / 120
        )
    if test_days > 13:
        hours[(lines[0], test + dt.timedelta(days=13), first_shift.name)] = (
            first_shift.length_min / 60
        )
    origin = start + weeks * 7 * DAY_MS
    return plant, Plan(hours), start, origin


def truth(fleet: Fleet, start: int, n: int) -> tuple[dict[str, np.ndarray], ...]:
    """kW per block of each line and site, units per block of each line and site, and kW
    per block of each main meter."""
    edges = start + SLOT_MS * np.arange(n + 1, dtype=np.int64)
    lines: dict[str, np.ndarray] = {}
    units: dict[str, np.ndarray] = {}
    for s in fleet.streams:
        key = s.path.key("line")
        kw = np.diff(s.run.energy_kwh(edges)) * 3.6e6 / SLOT_MS
        made = np.diff(s.run.counts(edges)[0]).astype(np.float64)
        lines[key] = lines.get(key, 0) + kw
        units[key] = units.get(key, 0) + made
    meters = {m.path.site: np.diff(m.total_kwh(edges)) * 3.6e6 / SLOT_MS for m in fleet.meters}
    names = {k.split("/")[0] for k in lines}
    # A site without a main meter is the sum of its lines.
    sites = {
        site: meters.get(site, sum((v for k, v in lines.items() if k.split("/")[0] == site),
                                   np.zeros(n)))
        for site in names | set(meters)
    }  # fmt: skip
    site_units = {
        site: sum((u for k, u in units.items() if k.split("/")[0] == site), np.zeros(n))
        for site in sites
    }
    return lines, units, sites, site_units, meters


def run_seed(base: Plant, seed: int, weeks: int, test_days: int) -> dict[str, Any]:
    plant, plan, start, origin0 = scenario(base, weeks, test_days)
    total_days = weeks * 7 + test_days
    config = FleetConfig(hours=total_days * 24, seed=seed, start_ms=start, interval_s=900.0,
                         sensors=False, meter_details=False)  # fmt: skip
    t0 = time.perf_counter()
    fleet = Fleet(config, plant, plan=plan)
    simulate_s = time.perf_counter() - t0
    n_all = total_days * 96
    lines, units, sites, site_units, meters = truth(fleet, start, n_all)
    ck = clock(start, n_all, plant.calendar.timezone)
    acc: dict[str, list[np.ndarray]] = {k: [] for k in ("actual", "ours", "naive", "base", "week")}
    train = 0.0
    for day in range(test_days):
        origin = origin0 + day * DAY_MS
        i = (origin - start) // SLOT_MS
        h0 = max(0, i - weeks * 7 * 96)
        hist = History(start + h0 * SLOT_MS, {k: v[h0:i] for k, v in lines.items()},
                       {k: v[h0:i] for k, v in meters.items()})  # fmt: skip
        t1 = time.perf_counter()
        targets = forecast(plant, hist, plan=plan)
        train = max(train, time.perf_counter() - t1)
        for t in targets:
            if t.kind == "rest":
                continue
            if t.kind == "line":
                actual_all, units_all = lines[t.name], units[t.name]
                periods = plan.periods(plant.calendar, t.name, start, start + n_all * SLOT_MS)
            else:
                actual_all, units_all = sites[t.name], site_units[t.name]
                periods = plant.calendar.periods(start, start + n_all * SLOT_MS)
            f = features(periods, ck)
            hist_f, fut = f.part(h0, i), f.part(i, i + 96)
            acc["actual"].append(actual_all[i : i + 96])
            acc["ours"].append(t.q)
            acc["naive"].append(seasonal_naive(hist_f, actual_all[h0:i], fut))
            acc["base"].append(hourly_baseline(hist_f, actual_all[h0:i], units_all[h0:i], fut))
            acc["week"].append(np.full(96, day // 7))
    a = np.concatenate(acc["actual"])
    q = np.concatenate(acc["ours"])
    naive = np.concatenate(acc["naive"])
    base = np.concatenate(acc["base"])
    week = np.concatenate(acc["week"])
    ok = ~np.isnan(naive) & ~np.isnan(base)
    out: dict[str, Any] = {
        "seed": seed,
        "simulate_s": round(simulate_s, 2),
        "blocks": int(ok.sum()),
        "train_seconds": round(train, 3),
        "_arrays": (a[ok], q[ok], naive[ok], base[ok]),
    }
    for w in sorted(set(week.tolist())):
        m = ok & (week == w)
        out[f"week{int(w) + 1}"] = {
            "wape": round(wape(a[m], q[m, 1]), 4),
            "wape_seasonal_naive": round(wape(a[m], naive[m]), 4),
            "wape_baseline": round(wape(a[m], base[m]), 4),
            "coverage_80": round(coverage(a[m], q[m]), 3),
        }
    return out


def scores(a: np.ndarray, q: np.ndarray, naive: np.ndarray, base: np.ndarray) -> dict[str, Any]:
    return {
        "wape": round(wape(a, q[:, 1]), 4),
        "wape_seasonal_naive": round(wape(a, naive), 4),
        "wape_baseline": round(wape(a, base), 4),
        "pinball": round(pinball(a, q), 3),
        "pinball_seasonal_naive": round(pinball(a, np.repeat(naive[:, None], 3, axis=1)), 3),
        "coverage_80": round(coverage(a, q), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plant", default="deploy/plants/small.toml", type=Path)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--weeks", type=int, default=6, help="weeks of history (default 6)")
    parser.add_argument("--test-days", type=int, default=14, help="rolling origins (default 14)")
    args = parser.parse_args(argv)
    base = load_plant(args.plant)
    runs = []
    for seed in args.seeds:
        r = run_seed(base, seed, args.weeks, args.test_days)
        arrays = r.pop("_arrays")
        r.update(scores(*arrays))
        runs.append((r, arrays))
        print(json.dumps(r), flush=True)
    joined = [np.concatenate([arr[k] for _, arr in runs]) for k in range(4)]
    summary = scores(*joined)
    summary["train_seconds"] = max(r["train_seconds"] for r, _ in runs)
    summary["seeds"] = args.seeds
    summary["origins_per_seed"] = args.test_days
    summary["history_weeks"] = args.weeks
    summary["beats_both_every_seed"] = all(
        r["wape"] < min(r["wape_seasonal_naive"], r["wape_baseline"]) for r, _ in runs
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
