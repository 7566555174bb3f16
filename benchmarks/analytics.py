"""Analytics throughput: OEE with the six big losses and energy for 100 machines over 7 days
at 1-second samples (60.5 million samples), against pandas and a plain read pass.

    python -m benchmarks.analytics [--machines 100] [--days 7] [--repeat 2]

Two data sets, each held in memory as the per-machine numpy arrays the store readers
return, and three measurements on each, in the same run and with the same number of runs
(best of ``--repeat``):

- ours: ``analytics.oee.timeline.build_timeline`` and ``Timeline.account`` per machine (the
  week and each day), then the fleet's sums;
- pandas, the way a data engineer would write it, from frames built from the same arrays
  before the timer (one frame per ``--pandas-chunk`` machines: one frame for the whole
  fleet needs more than this machine's 24 GB; the building time is printed apart):
  ``groupby`` per machine, day and category for times, run-length groups for the stops
  (to tell small stops from breakdowns), per machine and day for counter and register
  increments, downtime by reason and energy by state;
- a read pass: ``numpy.sum`` of every column once (the memory-bandwidth floor).

Every machine's account, the week and each day, is compared between the two, field by
field (times, stops, counts, ideal time, kWh, downtime by reason, energy by state; start-up
rejects are computed by ours only): the run fails on any difference beyond 1e-6 relative.

The data sets: ``synthetic`` (long state runs: exponential, mean 15 min running and 3 min
stopped) and ``plant``: the first machines of the large example plant
(``deploy/plants/large.toml``) from the simulator, sampled at 1 s: its shift calendar,
breaks, changeovers, micro-stops and breakdowns (more state changes than the synthetic set). Each
set's state changes per machine-day are printed.

A sample is one instant of one machine: a telemetry reading (state, counters, ideal cycle,
reason) and a meter reading (register, power). Last line: one JSON object with
``samples_per_s``, ``speedup_vs_pandas`` (synthetic), ``plant_samples_per_s``,
``plant_speedup_vs_pandas``, ``accounts_compared``, ``equal``, ``ratio_to_read_pass`` and
``peak_rss_mb`` (the process's peak: the arrays of one set, about 3.5 GB, ours and pandas).
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analytics.oee.accounts import Kpi, Params, Window, aggregate
from analytics.oee.timeline import build_timeline
from plant.oee import UNSPECIFIED
from store.series import EnergySeries, TelemetrySeries
from telemetry.models import DOWN, IDLE, OFF, PLANNED_STOP, RUN, SETUP, STATE_NAMES

START = 1_767_571_200_000  # 2026-01-05T00:00Z, a Monday
DAY_MS = 86_400_000
REASONS = (UNSPECIFIED, "blocked", "changeover", "jam", "motor_fault", "starved")
PARAMS = Params(max_gap_s=60.0)
LARGE = Path(__file__).parents[1] / "deploy" / "plants" / "large.toml"
COMPARED = ("planned_busy_s", "run_s", "small_stop_s", "breakdown_s", "setup_s", "ideal_s",
            "total_count", "good_count", "stops", "small_stops", "energy_kwh")  # fmt: skip


@dataclass
class Machine:
    tel: TelemetrySeries
    en: EnergySeries


def generate(n: int, seconds: int, seed: int) -> Machine:
    """One machine's week at 1 Hz: piecewise states, cumulative counters and register."""
    rng = np.random.default_rng(seed)
    lengths, states = [], []
    total_s = 0
    while total_s < seconds:
        s = int(rng.choice([0, 0, 0, 0, 1, 2, 2, 3, 4], p=None))
        length = int(rng.exponential(900 if s == 0 else 180)) + 5
        lengths.append(length)
        states.append(s)
        total_s += length
    state = np.repeat(np.array(states, dtype=np.int8), lengths)[:seconds]
    reason = np.where(state == 0, 0, rng.integers(1, len(REASONS), len(state))).astype(np.int64)
    reason = np.repeat(reason[np.cumsum(np.concatenate(([0], lengths[:-1])))], lengths)[:seconds]
    running = state == 0
    made = np.floor(np.cumsum(running) * 0.9 / 30.0).astype(np.int64)
    good = made - made // 50
    power = np.where(running, 20.0, np.where(state == 4, 2.0, 5.0))
    energy = np.floor(np.cumsum(power) / 3.6) / 1000.0
    t = START + 1000 * np.arange(seconds, dtype=np.int64)
    tel = TelemetrySeries(t_ms=t, state=state, total_count=made, good_count=good,
                          ideal_cycle_s=np.full(seconds, 30.0), reason=reason,
                          reasons=REASONS)  # fmt: skip
    return Machine(tel, EnergySeries(t_ms=t, energy_kwh=energy, power_kw=power))


def plant_machines(n: int, seconds: int) -> list[Machine]:
    """The first ``n`` machines of the large example plant, simulated and sampled at 1 Hz."""
    from plant.model import load_plant
    from simulators.fleet import plant_specs
    from simulators.machine import calendar_plan, simulate_machine

    plant = load_plant(LARGE)
    plan = calendar_plan(plant.calendar.periods(START, START + seconds * 1000), START, seconds)
    rng = np.random.default_rng(42)
    runs = [simulate_machine(spec, START, seconds, rng, plan=plan)
            for spec in plant_specs(plant)[:n]]  # fmt: skip
    reasons = (UNSPECIFIED, *sorted({r for run in runs for r in run.seg_reason if r}))
    code = {r: i for i, r in enumerate(reasons)}
    t = START + 1000 * np.arange(seconds, dtype=np.int64)
    out = []
    for run in runs:
        seg = run._segment_of(t)
        total, good = run.counts(t)
        seg_reason = np.array([code[r] if r else 0 for r in run.seg_reason], dtype=np.int64)
        tel = TelemetrySeries(t_ms=t, state=run.seg_state[seg], total_count=total,
                              good_count=good, ideal_cycle_s=run.ideal_cycle[seg],
                              reason=seg_reason[seg], reasons=reasons)  # fmt: skip
        power = run.seg_power_kw[seg]
        out.append(Machine(tel, EnergySeries(t_ms=t, energy_kwh=run.energy_kwh(t), power_kw=power)))
    return out


def ours(machines: list[Machine], days: int) -> tuple[dict[tuple[int, int], Kpi], Kpi]:
    """Every machine's account of the week (day -1) and of each day, and the fleet's week."""
    week = Window(START, START + days * DAY_MS)
    day_windows = [Window(START + d * DAY_MS, START + (d + 1) * DAY_MS) for d in range(days)]
    out: dict[tuple[int, int], Kpi] = {}
    for i, m in enumerate(machines):
        timeline = build_timeline(m.tel, m.en, PARAMS)
        out[(i, -1)] = timeline.account(week)
        for d, w in enumerate(day_windows):
            out[(i, d)] = timeline.account(w)
    return out, aggregate(v for (_, d), v in out.items() if d == -1)


def frames(machines: list[Machine], chunk: int) -> list[Any]:
    """The arrays as pandas frames, ``chunk`` machines per frame (columns concatenated once)."""
    import pandas as pd

    out = []
    for lo in range(0, len(machines), chunk):
        part = machines[lo : lo + chunk]
        out.append(pd.DataFrame({
            "machine": np.repeat(np.arange(lo, lo + len(part), dtype=np.int16),
                                 [len(m.tel.t_ms) for m in part]),
            "ts": np.concatenate([m.tel.t_ms for m in part]),
            "state": np.concatenate([m.tel.state for m in part]),
            "reason": np.concatenate([m.tel.reason for m in part]),
            "total": np.concatenate([m.tel.total_count for m in part]),
            "good": np.concatenate([m.tel.good_count for m in part]),
            "cycle": np.concatenate([m.tel.ideal_cycle_s for m in part]),
            "energy": np.concatenate([m.en.energy_kwh for m in part]),
            "power": np.concatenate([m.en.power_kw for m in part]),
        }, copy=False))  # fmt: skip
    return out


def with_pandas(parts: list[Any], reasons: tuple[str, ...]) -> list[Any]:
    """Per (machine, day) and per machine: the account's sums, one frame per chunk."""
    return [_pandas_accounts(f, reasons) for f in parts]


def _pandas_accounts(f: Any, reasons: tuple[str, ...]) -> Any:
    import pandas as pd

    g = f.groupby("machine", sort=False)
    dt = (g["ts"].shift(-1) - f["ts"]).clip(upper=PARAMS.max_gap_s * 1000).fillna(0) / 1000
    day = (f["ts"] - START) // DAY_MS  # an interval belongs to the day it starts in
    inc_day = (f["ts"] - 1 - START) // DAY_MS  # an increment to the day that ends with it
    inc = {}
    for col in ("total", "good", "energy"):
        d = g[col].diff()
        inc[col] = d.where(d.isna() | (d >= 0), f[col]).fillna(0)  # a decrease is a reset
    ideal = g["cycle"].shift(1).fillna(0) * inc["total"]
    state = f["state"]
    planned = ~state.isin([PLANNED_STOP, OFF])
    stop = state.isin([IDLE, DOWN]) & planned
    new = stop & ~stop.groupby(f["machine"]).shift(1, fill_value=False)
    stop_id = new.cumsum()
    length = dt.where(stop, 0.0).groupby(stop_id).transform("sum")
    small = stop & (length < PARAMS.micro_stop_threshold_s)
    cat = np.select([state == RUN, small, stop, state == SETUP], [0, 1, 2, 3], 4)
    keys = [f["machine"], day]
    times = dt.groupby([*keys, cat]).sum().unstack(fill_value=0.0)
    times = times.reindex(columns=range(5), fill_value=0.0)
    lost = cat != 4
    lost &= cat != 0
    by_reason = dt[lost].groupby([f["machine"][lost], day[lost], f["reason"][lost]]).sum()
    by_state = (f["power"] * dt / 3600).groupby([*keys, state]).sum()
    ikeys = [f["machine"], inc_day]
    table = pd.DataFrame({
        "planned_busy_s": times[[0, 1, 2, 3]].sum(axis=1), "run_s": times[0],
        "small_stop_s": times[1], "breakdown_s": times[2], "setup_s": times[3],
        "stops": new.groupby(keys).sum(), "small_stops": (new & small).groupby(keys).sum(),
        "ideal_s": ideal.groupby(ikeys).sum(), "total_count": inc["total"].groupby(ikeys).sum(),
        "good_count": inc["good"].groupby(ikeys).sum(),
        "energy_kwh": inc["energy"].groupby(ikeys).sum(),
    }).fillna(0)  # fmt: skip
    table.index.names = ["machine", "day"]
    by_reason.index = by_reason.index.set_levels(
        [reasons[k] for k in by_reason.index.levels[2]], level=2
    )
    by_state.index = by_state.index.set_levels(
        [STATE_NAMES[k] for k in by_state.index.levels[2]], level=2
    )
    return table, by_reason, by_state


def compare(mine: dict[tuple[int, int], Kpi], theirs: list[Any], days: int) -> int:
    """Every machine's week and day accounts field by field; the number compared."""
    compared = 0

    def close(a: float, b: float, what: str) -> None:
        if abs(a - b) > 1e-6 * max(1.0, abs(a)):
            raise AssertionError(f"{what}: ours {a!r}, pandas {b!r}")

    for table, by_reason, by_state in theirs:
        week = table.groupby(level="machine").sum()
        reason_week = by_reason.groupby(level=[0, 2]).sum()
        state_week = by_state.groupby(level=[0, 2]).sum()
        for machine in week.index:
            for d in range(-1, days):
                kpi = mine[(int(machine), d)]
                row = week.loc[machine] if d == -1 else table.loc[(machine, d)]
                for name in COMPARED:
                    close(
                        float(getattr(kpi, name) or 0.0), float(row[name]), f"{machine}/{d} {name}"
                    )
                reason = reason_week.loc[machine] if d == -1 else by_reason.loc[(machine, d)]
                state = state_week.loc[machine] if d == -1 else by_state.loc[(machine, d)]
                for label, ours_map, pandas_map in (
                    ("downtime_by_reason_s", kpi.downtime_by_reason_s, reason),
                    ("energy_by_state_kwh", kpi.energy_by_state_kwh, state),
                ):
                    for key in set(ours_map) | set(pandas_map.index):
                        close(ours_map.get(key, 0.0), float(pandas_map.get(key, 0.0)),
                              f"{machine}/{d} {label}[{key}]")  # fmt: skip
                compared += 1
    return compared


def read_pass(machines: list[Machine]) -> float:
    acc = 0.0
    for m in machines:
        for col in (m.tel.t_ms, m.tel.state, m.tel.total_count, m.tel.good_count,
                    m.tel.ideal_cycle_s, m.tel.reason, m.en.energy_kwh, m.en.power_kw):  # fmt: skip
            acc += float(np.sum(col))
    return acc


def best_of(n: int, fn: object, *args: object) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(n):
        t0 = time.perf_counter()
        result = fn(*args)  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return best, result


def state_changes_per_machine_day(machines: list[Machine], days: int) -> float:
    changes = sum(int(np.count_nonzero(np.diff(m.tel.state))) for m in machines)
    return changes / len(machines) / days


def measure(
    name: str, machines: list[Machine], days: int, args: argparse.Namespace
) -> dict[str, Any]:
    samples = sum(len(m.tel.t_ms) for m in machines)
    density = state_changes_per_machine_day(machines, days)
    t_read, _ = best_of(args.repeat, read_pass, machines)
    t_ours, result = best_of(args.repeat, ours, machines, days)
    assert isinstance(result, tuple)
    mine, week = result
    print(f"{name}: {samples:,} samples, {density:.0f} state changes per machine-day; "
          f"ours {t_ours:.2f} s, read pass {t_read:.2f} s", flush=True)  # fmt: skip
    t0 = time.perf_counter()
    parts = frames(machines, args.pandas_chunk)
    t_frame = time.perf_counter() - t0
    t_pandas, theirs = best_of(args.repeat, with_pandas, parts, machines[0].tel.reasons)
    print(f"{name}: pandas {t_pandas:.2f} s (+ {t_frame:.2f} s to build its frames)", flush=True)
    assert isinstance(theirs, list)
    compared = compare(mine, theirs, days)
    print(f"{name}: {compared:,} machine accounts equal", flush=True)
    return {"samples": samples, "seconds_ours": t_ours, "seconds_pandas": t_pandas,
            "seconds_pandas_frames": t_frame, "seconds_read_pass": t_read,
            "state_changes_per_machine_day": density, "compared": compared,
            "oee": week.oee or 0.0}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=100)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=2, help="best of N, for every method")
    parser.add_argument("--pandas-chunk", type=int, default=10, help="machines per frame")
    args = parser.parse_args()
    seconds = args.days * 86_400
    res = {}
    for name in ("synthetic", "plant"):
        t0 = time.perf_counter()
        if name == "synthetic":
            machines = [generate(i, seconds, i) for i in range(args.machines)]
        else:
            machines = plant_machines(args.machines, seconds)
        print(f"{name}: generated in {time.perf_counter() - t0:.1f} s", flush=True)
        res[name] = measure(name, machines, args.days, args)
        del machines
        gc.collect()
    syn, plant = res["synthetic"], res["plant"]
    print(json.dumps({
        "samples_per_s": round(syn["samples"] / syn["seconds_ours"]),
        "speedup_vs_pandas": round(syn["seconds_pandas"] / syn["seconds_ours"], 2),
        "plant_samples_per_s": round(plant["samples"] / plant["seconds_ours"]),
        "plant_speedup_vs_pandas": round(plant["seconds_pandas"] / plant["seconds_ours"], 2),
        "accounts_compared": syn["compared"] + plant["compared"],
        "equal": True,
        "ratio_to_read_pass": round(syn["seconds_ours"] / syn["seconds_read_pass"], 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "samples": syn["samples"],
        "machines": args.machines,
        "days": args.days,
        "repeat": args.repeat,
        **{f"{k}_{key}": round(v[key], 3) for k, v in res.items()
           for key in ("seconds_ours", "seconds_pandas", "seconds_pandas_frames",
                       "state_changes_per_machine_day")},
        "oee": round(syn["oee"], 6),
        "plant_oee": round(plant["oee"], 6),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
