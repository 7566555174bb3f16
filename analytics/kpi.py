"""OEE and energy intensity per machine, and time-weighted aggregation.

Definitions (ISO 22400-2):

- planned busy time = time with data, minus ``PLANNED_STOP`` and ``OFF``;
- availability = run time / planned busy time;
- performance = ideal cycle time x units made / run time (per product);
- quality = good units / units made; OEE = A x P x Q.

A state reading holds until the next reading of the same machine, but never
for longer than ``max_gap_s``: beyond that the time is "no data", counted as
neither running nor stopped. Counters are cumulative; a decrease is a reset,
after which the new value is what was made since the reset.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from analytics.reader import EnergySeries, TelemetrySeries
from telemetry.models import MachineState
from telemetry.topic import MachinePath

_RUN = MachineState.RUNNING.code
_NOT_PLANNED = (MachineState.PLANNED_STOP.code, MachineState.OFF.code)


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time window [start_ms, end_ms]."""

    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise ValueError("the window must end after it starts")


@dataclass(frozen=True, slots=True)
class Kpi:
    """Times and counts of one machine or of a group; ratios are derived, never averaged."""

    path: MachinePath | None
    window: Window
    run_s: float
    planned_busy_s: float
    no_data_s: float
    ideal_s: float | None
    total_count: int
    good_count: int
    energy_kwh: float | None

    @property
    def availability(self) -> float | None:
        return self.run_s / self.planned_busy_s if self.planned_busy_s > 0 else None

    @property
    def performance(self) -> float | None:
        if self.ideal_s is None or self.run_s <= 0:
            return None
        return self.ideal_s / self.run_s

    @property
    def quality(self) -> float | None:
        return self.good_count / self.total_count if self.total_count > 0 else None

    @property
    def oee(self) -> float | None:
        a, p, q = self.availability, self.performance, self.quality
        if a is None or p is None or q is None:
            return None
        return a * p * q

    @property
    def kwh_per_good_unit(self) -> float | None:
        if self.energy_kwh is None or self.good_count <= 0:
            return None
        return self.energy_kwh / self.good_count

    @property
    def kwh_per_unit(self) -> float | None:
        if self.energy_kwh is None or self.total_count <= 0:
            return None
        return self.energy_kwh / self.total_count

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "availability": self.availability,
            "performance": self.performance,
            "quality": self.quality,
            "oee": self.oee,
            "total_count": self.total_count,
            "good_count": self.good_count,
            "energy_kwh": self.energy_kwh,
            "kwh_per_good_unit": self.kwh_per_good_unit,
        }


def counter_increments(values: np.ndarray) -> np.ndarray:
    """Increments of a cumulative counter; after a decrease (reset) the new value counts."""
    v = values.astype(np.float64, copy=False)
    d = np.diff(v)
    out: np.ndarray = np.where(d < 0, v[1:], d)
    return out


def _in_window(t: np.ndarray, window: Window) -> np.ndarray:
    """Mask of the intervals (t[i], t[i+1]] that end inside the window."""
    end = t[1:]
    mask: np.ndarray = (end > window.start_ms) & (end <= window.end_ms)
    return mask


def machine_kpi(
    path: MachinePath,
    telemetry: TelemetrySeries,
    energy: EnergySeries | None,
    window: Window,
    *,
    max_gap_s: float = 60.0,
) -> Kpi:
    """KPIs of one machine over ``window`` from its readings (sorted by time)."""
    t = telemetry.t_ms
    w0, w1 = window.start_ms, window.end_ms
    if len(t) == 0:
        return Kpi(path, window, 0.0, 0.0, (w1 - w0) / 1000, None, 0, 0, None)
    gap_ms = max_gap_s * 1000.0
    nxt = np.empty(len(t), dtype=np.float64)
    nxt[:-1] = t[1:]
    nxt[-1] = t[-1]  # the last reading marks an instant; what follows is unknown
    seg_end = np.minimum(nxt, t + gap_ms)
    dur_ms = np.clip(seg_end, w0, w1) - np.clip(t, w0, w1)
    dur_ms = np.maximum(dur_ms, 0.0)
    state = telemetry.state
    run_ms = float(dur_ms[state == _RUN].sum())
    covered_ms = float(dur_ms.sum())
    excluded_ms = float(dur_ms[np.isin(state, _NOT_PLANNED)].sum())

    total = good = 0
    ideal_s: float | None = None
    if len(t) > 1:
        mask = _in_window(t, window)
        d_total = counter_increments(telemetry.total_count)[mask]
        d_good = counter_increments(telemetry.good_count)[mask]
        total, good = int(d_total.sum()), int(d_good.sum())
        cycle = telemetry.ideal_cycle_s[:-1][mask]
        made = d_total > 0
        if not np.isnan(cycle[made]).any():
            ideal_s = float((np.nan_to_num(cycle) * d_total).sum())

    kwh: float | None = None
    if energy is not None and len(energy.t_ms) > 1:
        mask = _in_window(energy.t_ms, window)
        kwh = float(counter_increments(energy.energy_kwh)[mask].sum())

    return Kpi(
        path=path,
        window=window,
        run_s=run_ms / 1000,
        planned_busy_s=(covered_ms - excluded_ms) / 1000,
        no_data_s=(w1 - w0 - covered_ms) / 1000,
        ideal_s=ideal_s,
        total_count=total,
        good_count=good,
        energy_kwh=kwh,
    )


def aggregate(kpis: Iterable[Kpi], path: MachinePath | None = None) -> Kpi:
    """Time-weighted KPIs of a group: sums of times, counts and energy, never a mean of ratios."""
    items = list(kpis)
    if not items:
        raise ValueError("nothing to aggregate")
    ideal = [k.ideal_s for k in items]
    energy = [k.energy_kwh for k in items]
    return Kpi(
        path=path,
        window=items[0].window,
        run_s=sum(k.run_s for k in items),
        planned_busy_s=sum(k.planned_busy_s for k in items),
        no_data_s=sum(k.no_data_s for k in items),
        ideal_s=None if any(i is None for i in ideal) else sum(i for i in ideal if i is not None),
        total_count=sum(k.total_count for k in items),
        good_count=sum(k.good_count for k in items),
        energy_kwh=None
        if any(e is None for e in energy)
        else sum(e for e in energy if e is not None),
    )
