"""One machine and its energy meter over a shift, as an exact piecewise timeline.

The model is event based: the machine's day is a list of segments (state,
reason, product, speed) with millisecond boundaries. Counters and the energy
register are exact functions of time over that timeline, so any reading can be
sampled at any instant and the ground truth follows from the same segments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from telemetry.models import DOWN, IDLE, OFF, RUN, SETUP
from telemetry.models import PLANNED_STOP as PLANNED
from telemetry.topic import MachinePath

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class MachineSpec:
    """Parameters of one simulated machine and its meter."""

    path: MachinePath
    products: tuple[tuple[str, float], ...] = (("A", 30.0), ("B", 45.0))
    """(product, ideal cycle time in seconds); the machine changes over once per shift."""
    mtbf_s: float = 5400.0
    mttr_s: float = 600.0
    mean_time_between_idle_s: float = 3600.0
    mean_idle_s: float = 240.0
    setup_s: float = 900.0
    speed_range: tuple[float, float] = (0.85, 1.0)
    scrap_rate: float = 0.02
    startup_scrap_units: int = 10
    startup_scrap_rate: float = 0.3
    idle_kw: float = 4.0
    load_kw: float = 18.0
    register_resolution_kwh: float = 0.001
    register_rollover_kwh: float | None = None
    register_start_kwh: float = 0.0
    break_every_s: float = 7200.0
    micro_stops_per_hour: float = 4.0
    """Short stops (jams, misfeeds) per running hour; their length is exponential."""
    micro_stop_mean_s: float = 40.0

    def register(self, energy_kwh: FloatArray) -> FloatArray:
        """What the meter's register shows for an exact cumulative energy: its resolution,
        its starting value and its roll-over."""
        res = self.register_resolution_kwh
        value = self.register_start_kwh + np.floor(energy_kwh / res + 1e-9) * res
        if self.register_rollover_kwh is not None:
            value = np.mod(value, self.register_rollover_kwh)
        out: FloatArray = np.round(value, 6)
        return out


# Power drawn in each state, as a fraction of idle power (RUNNING adds the load).
_POWER_FACTOR_BY_STATE = {RUN: 1.0, IDLE: 1.0, DOWN: 0.3, SETUP: 1.2, PLANNED: 0.5, OFF: 0.0}
_OFF_KW = 0.05
_REASONS = {IDLE: ("starved", "blocked"), DOWN: ("jam", "motor_fault", "sensor_fault")}
_MICRO_REASONS = ("misfeed", "minor_jam")
FAILURE_REASONS: tuple[str, ...] = _REASONS[DOWN]
"""Reasons of breakdowns (short stops have their own reasons)."""


@dataclass(frozen=True, slots=True)
class MachineRun:
    """The timeline of one machine: segments plus what is needed to sample it."""

    spec: MachineSpec
    start_ms: int
    end_ms: int
    seg_start: IntArray  # ms, absolute
    seg_end: IntArray
    seg_state: npt.NDArray[np.int8]
    seg_reason: tuple[str | None, ...]
    seg_product: npt.NDArray[np.int16]
    seg_speed: FloatArray
    seg_power_kw: FloatArray
    # Units: cumulative fractional production at each segment start, and the
    # scrap flag of every unit in order of production.
    prod_at_start: FloatArray
    scrap_flags: npt.NDArray[np.bool_]
    energy_at_start: FloatArray = field(repr=False)

    @property
    def ideal_cycle(self) -> FloatArray:
        cycles = np.array([c for _, c in self.spec.products])
        out: FloatArray = cycles[self.seg_product]
        return out

    def _segment_of(self, t_ms: IntArray) -> IntArray:
        idx = np.searchsorted(self.seg_start, t_ms, side="right") - 1
        out: IntArray = np.clip(idx, 0, len(self.seg_start) - 1)
        return out

    def production(self, t_ms: IntArray) -> FloatArray:
        """Cumulative fractional units produced at each instant."""
        i = self._segment_of(t_ms)
        rate = np.where(self.seg_state[i] == RUN, self.seg_speed[i] / self.ideal_cycle[i], 0.0)
        out: FloatArray = self.prod_at_start[i] + rate * (t_ms - self.seg_start[i]) / 1000.0
        return out

    def counts(self, t_ms: IntArray) -> tuple[IntArray, IntArray]:
        """Cumulative (total, good) counts at each instant."""
        total = np.floor(self.production(t_ms) + 1e-9).astype(np.int64)
        scrap_cum = np.concatenate(([0], np.cumsum(self.scrap_flags)))
        good = total - scrap_cum[np.minimum(total, len(self.scrap_flags))]
        return total, good

    def energy_kwh(self, t_ms: IntArray) -> FloatArray:
        """Exact cumulative energy (kWh) at each instant."""
        i = self._segment_of(t_ms)
        out: FloatArray = (
            self.energy_at_start[i] + self.seg_power_kw[i] * (t_ms - self.seg_start[i]) / 3.6e6
        )
        return out

    def state_at(self, t_ms: IntArray) -> npt.NDArray[np.int8]:
        out: npt.NDArray[np.int8] = self.seg_state[self._segment_of(t_ms)]
        return out


def _power(spec: MachineSpec, state: int, speed: float) -> float:
    if state == OFF:
        return _OFF_KW
    kw = spec.idle_kw * _POWER_FACTOR_BY_STATE[state]
    if state == RUN:
        kw += spec.load_kw * speed
    return kw


def _breaks(spec: MachineSpec, duration_s: float) -> list[tuple[float, float]]:
    """Planned breaks: every ``break_every_s``, alternating 15 and 30 minutes."""
    out = []
    k = 1
    while k * spec.break_every_s < duration_s:
        start = k * spec.break_every_s
        out.append((start, min(duration_s, start + (1800.0 if k % 2 == 0 else 900.0))))
        k += 1
    return out


Stop = tuple[float, float, int, str | None]
"""A planned non-production period in seconds from the start: (from, to, state, reason)."""


def calendar_plan(
    periods: list[tuple[int, int, str, str]], start_ms: int, duration_s: float
) -> tuple[list[Stop], list[float]]:
    """Planned stops (breaks; OFF outside shifts) and changeover times from calendar periods.

    ``periods`` are :meth:`plant.model.Calendar.periods` of the simulated window.
    One changeover per shift, at its middle.
    """
    end_s = duration_s
    shifts = sorted((a, b) for a, b, kind, _ in periods if kind == "shift")
    stops: list[Stop] = []
    t = 0.0
    for a, b in shifts:
        s0, s1 = (a - start_ms) / 1000, (b - start_ms) / 1000
        if s0 > t:
            stops.append((t, s0, OFF, None))
        t = max(t, s1)
    if t < end_s:
        stops.append((t, end_s, OFF, None))
    for a, b, kind, _ in periods:
        if kind == "break":
            stops.append(((a - start_ms) / 1000, (b - start_ms) / 1000, PLANNED, "break"))
    changeovers = [((a + b) / 2 - start_ms) / 1000 for a, b in shifts]
    return sorted(stops), sorted(c for c in changeovers if 0 < c < end_s)


def simulate_machine(
    spec: MachineSpec,
    start_ms: int,
    duration_s: float,
    rng: np.random.Generator,
    *,
    plan: tuple[list[Stop], list[float]] | None = None,
) -> MachineRun:
    """Draw the timeline of one machine over ``duration_s`` seconds.

    Without a ``plan`` the whole window is one shift with breaks every
    ``break_every_s`` and a changeover at its middle; with one (from
    :func:`calendar_plan`) the shift calendar decides.
    """
    segs: list[tuple[float, float, int, str | None, int, float]] = []

    def add(
        t0: float, t1: float, state: int, reason: str | None, product: int, speed: float
    ) -> None:
        t0_ms, t1_ms = round(t0 * 1000), round(t1 * 1000)
        if t1_ms > t0_ms:
            segs.append((t0_ms, t1_ms, state, reason, product, speed))

    if plan is None:
        stops: list[Stop] = [(a, b, PLANNED, "break") for a, b in _breaks(spec, duration_s)]
        changeovers = [duration_s / 2]
    else:
        stops, changeovers = plan
    if len(spec.products) < 2:
        changeovers = []
    product = 0
    t = 0.0
    b = c = 0
    while t < duration_s - 1e-9:
        while b < len(stops) and stops[b][1] <= t + 1e-9:
            b += 1  # a stop that overlapped the previous one
        if b < len(stops) and t >= stops[b][0] - 1e-9:
            add(t, stops[b][1], stops[b][2], stops[b][3], product, 0.0)
            t = stops[b][1]
            b += 1
            continue
        next_stop = stops[b][0] if b < len(stops) else duration_s
        if c < len(changeovers) and t >= changeovers[c] - 1e-9:
            end = min(t + spec.setup_s, next_stop, duration_s)
            product = (product + 1) % len(spec.products)
            add(t, end, SETUP, "changeover", product, 0.0)
            t = end
            c += 1
            continue
        boundary = min(
            next_stop, changeovers[c] if c < len(changeovers) else duration_s, duration_s
        )
        ttf = rng.exponential(spec.mtbf_s)
        tti = rng.exponential(spec.mean_time_between_idle_s)
        ttm = (
            rng.exponential(3600.0 / spec.micro_stops_per_hour)
            if spec.micro_stops_per_hour > 0
            else np.inf
        )
        speed = float(rng.uniform(*spec.speed_range))
        run_end = min(t + min(ttf, tti, ttm), boundary)
        add(t, run_end, RUN, None, product, speed)
        t = run_end
        if t >= boundary - 1e-9:
            continue
        if ttm < min(ttf, tti):
            stop = rng.exponential(spec.micro_stop_mean_s)
            end = min(t + stop, boundary)
            add(t, end, DOWN, str(rng.choice(_MICRO_REASONS)), product, 0.0)
        elif ttf <= tti:
            stop = rng.lognormal(np.log(spec.mttr_s) - 0.125, 0.5)
            end = min(t + stop, boundary)
            add(t, end, DOWN, str(rng.choice(_REASONS[DOWN])), product, 0.0)
        else:
            stop = rng.exponential(spec.mean_idle_s)
            end = min(t + stop, boundary)
            add(t, end, IDLE, str(rng.choice(_REASONS[IDLE])), product, 0.0)
        t = end

    arr = np.array([s[:3] for s in segs], dtype=np.int64)
    seg_start = arr[:, 0] + start_ms
    seg_end = arr[:, 1] + start_ms
    seg_state = arr[:, 2].astype(np.int8)
    seg_product = np.array([s[4] for s in segs], dtype=np.int16)
    seg_speed = np.array([s[5] for s in segs], dtype=np.float64)
    seg_power = np.array([_power(spec, int(s[2]), s[5]) for s in segs], dtype=np.float64)
    dur_s = (seg_end - seg_start) / 1000.0
    cycles = np.array([c for _, c in spec.products])[seg_product]
    prod = np.where(seg_state == RUN, seg_speed / cycles * dur_s, 0.0)
    prod_at_start = np.concatenate(([0.0], np.cumsum(prod)[:-1]))
    energy_at_start = np.concatenate(([0.0], np.cumsum(seg_power * dur_s / 3600.0)[:-1]))

    total_units = int(np.floor(prod.sum() + 1e-9))
    scrap = rng.random(total_units) < spec.scrap_rate
    # Start-up rejects: the first units after each setup are scrapped more often.
    units_at = np.floor(prod_at_start + 1e-9).astype(np.int64)
    for i in np.flatnonzero(seg_state == SETUP):
        first = int(units_at[i])
        last = min(first + spec.startup_scrap_units, total_units)
        scrap[first:last] |= rng.random(last - first) < spec.startup_scrap_rate

    return MachineRun(
        spec=spec,
        start_ms=start_ms,
        end_ms=start_ms + round(duration_s * 1000),
        seg_start=seg_start,
        seg_end=seg_end,
        seg_state=seg_state,
        seg_reason=tuple(s[3] for s in segs),
        seg_product=seg_product,
        seg_speed=seg_speed,
        seg_power_kw=seg_power,
        prod_at_start=prod_at_start,
        scrap_flags=scrap,
        energy_at_start=energy_at_start,
    )
