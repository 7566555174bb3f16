"""OEE (ISO 22400-2) with the six big losses, and energy by state, from telemetry.

A machine's readings become a **timeline** once (:func:`build_timeline`), which
then gives the exact account (:class:`telemetry.oee.Oee`) of any window: a
shift, an hour, a day. Definitions are in :mod:`telemetry.oee`; here is how
telemetry maps onto them:

- A state reading holds until the next reading of the machine, but never for
  longer than ``max_gap_s``: beyond that the time is "no data", counted as
  neither running nor stopped.
- Planned busy time: ``RUNNING`` is always planned (a machine that runs was
  meant to); ``PLANNED_STOP`` never is; any other state is planned when the
  shift calendar says so (in a shift, not in a break), or, without a calendar,
  unless it is ``OFF``.
- A stop is a stretch of planned time in ``DOWN``, ``IDLE``, ``OFF`` or an
  unknown state, unbroken by other states or missing data; shorter than the
  micro-stop threshold it is a small stop (performance loss), else a breakdown.
  ``SETUP`` is setup loss whatever its length.
- Counters are cumulative; a decrease is a reset (the new value is what was made
  since), or a roll-over when the meter's roll-over value is known. An
  increment belongs to the window holding the reading that shows it.
- The ideal cycle time of a unit is the one reported at the start of the
  interval in which it was made. The first ``startup_units`` units after each
  changeover are start-up production; their rejects are start-up rejects.
- Energy: kWh from register increments (power integration where there is no
  register); energy by state from power x time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics.reader import EnergySeries, TelemetrySeries
from telemetry.models import STATES, MachineState
from telemetry.oee import UNSPECIFIED, Oee, total
from telemetry.plant import Calendar
from telemetry.topic import MachinePath

RUN = MachineState.RUNNING.code
IDLE = MachineState.IDLE.code
DOWN = MachineState.DOWN.code
SETUP = MachineState.SETUP.code
PLANNED_STOP = MachineState.PLANNED_STOP.code
OFF = MachineState.OFF.code
UNKNOWN = -1
STATE_NAMES = tuple(s.value for s in STATES)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Window:
    """A time window [start_ms, end_ms)."""

    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise ValueError("the window must end after it starts")

    @property
    def seconds(self) -> float:
        return (self.end_ms - self.start_ms) / 1000


@dataclass(frozen=True, slots=True)
class Params:
    """How telemetry is read; per machine where the plant model says so."""

    max_gap_s: float = 60.0
    micro_stop_threshold_s: float = 120.0
    startup_units: int = 10
    calendar: Calendar | None = None
    rollover_kwh: float | None = None

    @property
    def lookback_ms(self) -> int:
        """How far before (and after) a window to read, so that the state at its start, the
        full length of stops that cross its edges and the start-up after a changeover just
        before it are known."""
        return int(max(self.max_gap_s, self.micro_stop_threshold_s, 1800.0) * 1000)


@dataclass(frozen=True, slots=True, kw_only=True)
class Kpi(Oee):
    """The account of one machine (``path``) or a group (``path`` None) over ``window``."""

    path: MachinePath | None = None
    window: Window | None = None

    def as_dict(self) -> dict[str, object]:
        return self.summary()


def counter_increments(
    values: npt.NDArray[np.generic], rollover: float | None = None
) -> FloatArray:
    """Increments of a cumulative counter. A decrease is a roll-over when ``rollover`` is
    known and the wrapped increment is plausible (less than half the range), else a reset
    after which the new value counts."""
    v = values.astype(np.float64, copy=False)
    d = np.diff(v)
    if rollover is None:
        out: FloatArray = np.where(d < 0, v[1:], d)
        return out
    wrapped = d + rollover
    out = np.where(d >= 0, d, np.where(wrapped < rollover / 2, wrapped, v[1:]))
    return out


def _planned_mask(
    starts: IntArray, state: npt.NDArray[np.int8], calendar: Calendar | None
) -> BoolArray:
    if calendar is None:
        planned: BoolArray = state != OFF
    else:
        lo, hi = int(starts[0]), int(starts[-1]) + 1
        in_shift = np.zeros(len(starts), dtype=bool)
        in_break = np.zeros(len(starts), dtype=bool)
        for a, b, kind, _ in calendar.periods(lo, hi):
            i, j = np.searchsorted(starts, [a, b], side="left")
            (in_shift if kind == "shift" else in_break)[i:j] = True
        planned = in_shift & ~in_break
    out: BoolArray = (planned | (state == RUN)) & (state != PLANNED_STOP)
    return out


def _calendar_edges(calendar: Calendar | None, lo: int, hi: int) -> IntArray:
    if calendar is None:
        return np.empty(0, dtype=np.int64)
    edges = {t for a, b, _, _ in calendar.periods(lo, hi) for t in (a, b)}
    return np.array(sorted(e for e in edges if lo < e < hi), dtype=np.int64)


def _startup_coverage(units: FloatArray, setup_ends: FloatArray, n: int) -> FloatArray:
    """How many start-up units (the first ``n`` after each changeover) have been made by
    the time ``units`` units are made (both on the cumulative axis)."""
    if n <= 0 or len(setup_ends) == 0:
        return np.zeros(len(units))
    # Merge overlapping start-up ranges (s, s + n].
    starts, ends = [float(setup_ends[0])], [float(setup_ends[0]) + n]
    for s in setup_ends[1:].tolist():
        if s <= ends[-1]:
            ends[-1] = max(ends[-1], s + n)
        else:
            starts.append(s)
            ends.append(s + n)
    s_arr, e_arr = np.array(starts), np.array(ends)
    full = np.concatenate(([0.0], np.cumsum(e_arr - s_arr)))
    k = np.searchsorted(s_arr, units, side="left")  # ranges starting before `units`
    prev = np.maximum(k - 1, 0)
    partial = np.where(k > 0, np.clip(units - s_arr[prev], 0, e_arr[prev] - s_arr[prev]), 0.0)
    # Ranges before `prev` are wholly made (they end before `prev` starts).
    out: FloatArray = np.where(k > 0, full[prev] + partial, 0.0)
    return out


_CAT_RUN, _CAT_SMALL, _CAT_LONG, _CAT_SETUP, _CAT_UNPLANNED = range(5)
_NCAT = 5
# Indexed by state code + 1 (so that UNKNOWN, -1, comes first):
# UNKNOWN, RUNNING, IDLE, DOWN, SETUP, PLANNED_STOP, OFF.
_PLANNED_CATEGORY = np.array(
    [_CAT_LONG, _CAT_RUN, _CAT_LONG, _CAT_LONG, _CAT_SETUP, _CAT_UNPLANNED, _CAT_LONG],
    dtype=np.int8,
)
"""The category of a planned piece by its state; stops start as breakdowns (LONG)."""
_CATEGORY_WITHOUT_CALENDAR = np.array(
    [_CAT_LONG, _CAT_RUN, _CAT_LONG, _CAT_LONG, _CAT_SETUP, _CAT_UNPLANNED, _CAT_UNPLANNED],
    dtype=np.intp,
)
"""Without a calendar, every state but PLANNED_STOP and OFF is planned."""


def _window_slice(starts: IntArray, ends: IntArray, a: int, b: int) -> tuple[int, int]:
    """Pieces [i, j) that overlap [a, b) (``starts`` and ``ends`` both sorted)."""
    i = int(np.searchsorted(ends, a, side="right"))
    j = int(np.searchsorted(starts, b, side="left"))
    return i, max(i, j)


def _clipped_bincount(
    idx: npt.NDArray[np.intp], values: FloatArray, starts: IntArray, ends: IntArray,
    span: tuple[int, int], window: tuple[int, int], size: int,
    per_ms: FloatArray | float, *, scale: float = 1.0,
) -> FloatArray:  # fmt: skip
    """Sums of ``values`` by ``idx`` over the pieces ``span``, the two edge pieces cut to
    ``window``; a piece loses ``per_ms`` (its rate, or one for all) per millisecond cut."""
    i, j = span
    a, b = window
    out: FloatArray = np.bincount(idx[i:j], weights=values[i:j], minlength=size).astype(
        np.float64, copy=False
    )
    if j > i:
        for k, cut in ((i, a - int(starts[i])), (j - 1, int(ends[j - 1]) - b)):
            if cut > 0:
                rate = per_ms[k] if isinstance(per_ms, np.ndarray) else per_ms
                out[idx[k]] -= cut * float(rate) * scale
    return out


@dataclass(frozen=True, slots=True)
class Timeline:
    """One machine's readings, classified once; :meth:`account` sums any window.

    Built with as few passes over the readings as possible (each pass over a week at
    1 Hz costs milliseconds, most of it in fresh memory); a window then costs a
    ``bincount`` and a few sums or dot products over its own slice."""

    # Pieces of time [p_start, p_end): the state of the reading that opened them, cut at
    # calendar edges and at max_gap after each reading (then no data follows).
    p_start: IntArray
    p_end: IntArray
    p_category: npt.NDArray[np.intp]
    p_dur_s: FloatArray
    # Stops: where each starts, whether it is small, the state it started in.
    stop_start: IntArray
    stop_small: BoolArray
    stop_state: npt.NDArray[np.int8]
    # Downtime pieces (stops and setups), for the Pareto by reason.
    d_start: IntArray
    d_end: IntArray
    d_reason: IntArray
    reasons: tuple[str, ...]
    # Count increments ending at each reading after the first.
    c_time: IntArray
    d_total: FloatArray
    d_good: FloatArray
    cycle: FloatArray
    unknown_cycle: BoolArray | None
    # Start-up rejects (sparse): when, how many, their ideal time.
    su_time: IntArray
    su_count: FloatArray
    su_s: FloatArray
    # Energy: increments ending at each meter reading after the first; pieces of power.
    e_time: IntArray | None = None
    d_kwh: FloatArray | None = None
    e_start: IntArray | None = None
    e_end: IntArray | None = None
    e_power: FloatArray | None = None
    e_kwh: FloatArray | None = None
    e_state_idx: npt.NDArray[np.intp] | None = None

    def energy_curve(self) -> tuple[IntArray, FloatArray] | None:
        """(times, cumulative kWh from the first reading) of the meter."""
        if self.e_time is None or self.d_kwh is None:
            return None
        return self.e_time, np.concatenate(([0.0], np.cumsum(self.d_kwh)))

    def breakdown_starts(self, window: Window) -> list[int]:
        """When each breakdown (a long stop that began ``DOWN``) started in the window."""
        pick = ~self.stop_small & (self.stop_state == DOWN)
        pick &= (self.stop_start >= window.start_ms) & (self.stop_start < window.end_ms)
        out: list[int] = self.stop_start[pick].tolist()
        return out

    def base_load_kw(self, window: Window) -> float | None:
        """Median power while idle (powered, not producing) in the window."""
        if self.e_start is None or self.e_power is None or self.e_state_idx is None:
            return None
        i, j = np.searchsorted(self.e_start, [window.start_ms, window.end_ms])
        idle = self.e_power[i:j][self.e_state_idx[i:j] == IDLE + 1]
        return float(np.median(idle)) if len(idle) else None

    def account(self, window: Window, path: MachinePath | None = None) -> Kpi:
        a, b = window.start_ms, window.end_ms
        span = _window_slice(self.p_start, self.p_end, a, b)
        sums = _clipped_bincount(
            self.p_category, self.p_dur_s, self.p_start, self.p_end, span, (a, b), _NCAT, 1e-3
        )
        si, sj = np.searchsorted(self.stop_start, [a, b])
        small_stops = int(self.stop_small[si:sj].sum())

        di, dj = _window_slice(self.d_start, self.d_end, a, b)
        d = (np.minimum(self.d_end[di:dj], b) - np.maximum(self.d_start[di:dj], a)) / 1000.0
        per_reason = np.bincount(self.d_reason[di:dj], weights=d, minlength=len(self.reasons))
        by_reason = {self.reasons[k]: float(v) for k, v in enumerate(per_reason.tolist()) if v > 0}

        ci, cj = (int(x) for x in np.searchsorted(self.c_time, [a, b], side="right"))
        total = float(self.d_total[ci:cj].sum())
        good = float(self.d_good[ci:cj].sum())
        cycle = self.cycle[ci:cj]
        made_ideal = float(np.dot(cycle, self.d_total[ci:cj]))
        ideal: float | None = made_ideal
        if self.unknown_cycle is not None and self.unknown_cycle[ci:cj].any():
            ideal = None
        reject_s = made_ideal - float(np.dot(cycle, self.d_good[ci:cj]))
        ui, uj = (int(x) for x in np.searchsorted(self.su_time, [a, b], side="right"))

        energy: float | None = None
        by_state: dict[str, float] = {}
        if self.e_time is not None and self.d_kwh is not None:
            ei, ej = np.searchsorted(self.e_time[1:], [a, b], side="right")
            energy = float(self.d_kwh[int(ei) : int(ej)].sum())
        if self.e_start is not None and self.e_end is not None:
            assert self.e_kwh is not None and self.e_state_idx is not None
            assert self.e_power is not None
            espan = _window_slice(self.e_start, self.e_end, a, b)
            per = _clipped_bincount(
                self.e_state_idx, self.e_kwh, self.e_start, self.e_end, espan, (a, b),
                len(STATE_NAMES) + 1, self.e_power, scale=1 / 3.6e6,
            )  # fmt: skip
            names = ("unknown", *STATE_NAMES)
            by_state = {names[k]: float(v) for k, v in enumerate(per.tolist()) if v > 1e-12}

        return Kpi(
            path=path,
            window=window,
            planned_busy_s=float(sums[[_CAT_RUN, _CAT_SMALL, _CAT_LONG, _CAT_SETUP]].sum()),
            run_s=float(sums[_CAT_RUN]),
            small_stop_s=float(sums[_CAT_SMALL]),
            breakdown_s=float(sums[_CAT_LONG]),
            setup_s=float(sums[_CAT_SETUP]),
            no_data_s=window.seconds - float(sums.sum()),
            ideal_s=ideal,
            total_count=round(total),
            good_count=round(good),
            startup_reject_count=round(float(self.su_count[ui:uj].sum())),
            startup_reject_s=float(self.su_s[ui:uj].sum()),
            reject_s=reject_s,
            stops=int(sj - si),
            small_stops=small_stops,
            energy_kwh=energy,
            energy_by_state_kwh=by_state,
            downtime_by_reason_s=dict(sorted(by_reason.items())),
        )


def _increments(values: npt.NDArray[np.generic], rollover: float | None = None) -> FloatArray:
    """:func:`counter_increments`, in one pass when nothing decreases (the usual case)."""
    d: FloatArray = np.subtract(values[1:], values[:-1], dtype=np.float64)
    if (d < 0).any():
        return counter_increments(values, rollover)
    return d


def build_timeline(
    telemetry: TelemetrySeries, energy: EnergySeries | None, params: Params
) -> Timeline:
    """Classify one machine's readings (sorted by time) once, for any number of windows."""
    t = telemetry.t_ms.astype(np.int64, copy=False)
    n = len(t)
    gap = int(params.max_gap_s * 1000)
    data_end = np.empty(n, dtype=np.int64)
    data_end[:-1] = t[1:]
    data_end[-1] = t[-1]  # the last reading marks an instant; what follows is unknown
    step = np.diff(t)
    if len(step) and int(step.max()) > gap:
        np.minimum(data_end[:-1], t[:-1] + gap, out=data_end[:-1])
    state, reason = telemetry.state, telemetry.reason
    edges = _calendar_edges(params.calendar, int(t[0]), int(t[-1]))
    if len(edges):  # cut pieces at shift and break edges
        at = np.searchsorted(t, edges, side="right")
        owner = np.insert(np.arange(n), at, at - 1)
        p_start = np.insert(t, at, edges)
        keep = np.concatenate((p_start[1:] != p_start[:-1], [True]))  # edge on a reading
        p_start, owner = p_start[keep], owner[keep]
        p_end = np.minimum(np.append(p_start[1:], t[-1]), data_end[owner])
        p_start = np.minimum(p_start, p_end)
        state, reason = state[owner], reason[owner]
    else:
        p_start, p_end = t, data_end
    sidx = np.add(state, 1, dtype=np.intp)
    if params.calendar is None:
        category = _CATEGORY_WITHOUT_CALENDAR[sidx]
    else:
        planned = _planned_mask(p_start, state, params.calendar)
        category = np.where(planned, _PLANNED_CATEGORY[sidx], _CAT_UNPLANNED).astype(np.intp)
    dur = np.subtract(p_end, p_start, dtype=np.float64)
    dur /= 1000.0

    # Stops: runs of stop pieces that touch; each one's whole length decides small or not.
    is_stop = category == _CAT_LONG
    joined = is_stop[1:] & is_stop[:-1] & (p_start[1:] == p_end[:-1])
    first = np.flatnonzero(is_stop & ~np.concatenate(([False], joined)))
    last = np.flatnonzero(is_stop & ~np.concatenate((joined, [False])))
    pieces = np.flatnonzero(is_stop)
    sizes = last - first + 1
    if len(pieces):
        length = np.add.reduceat(dur[pieces], np.concatenate(([0], np.cumsum(sizes)[:-1])))
    else:
        length = np.zeros(0)
    small = length < params.micro_stop_threshold_s
    if small.any():
        category[pieces[np.repeat(small, sizes)]] = _CAT_SMALL
    down = np.flatnonzero((category == _CAT_SMALL) | (category == _CAT_LONG)
                          | (category == _CAT_SETUP))  # fmt: skip

    # Counts: increments at each reading after the first.
    d_total = _increments(telemetry.total_count)
    d_good = _increments(telemetry.good_count)
    cycle = telemetry.ideal_cycle_s[:-1]
    unknown = None
    if np.isnan(cycle).any():
        unknown = np.isnan(cycle) & (d_total > 0)
        cycle = np.nan_to_num(cycle)
    # Start-up rejects: only where there are rejects (few), by the units' place on the
    # cumulative axis relative to the first ``startup_units`` after each changeover.
    st = telemetry.state
    setup_end = np.flatnonzero((st[:-1] == SETUP) & (st[1:] != SETUP)) + 1
    ridx = np.flatnonzero(d_total != d_good)
    su = np.zeros(len(ridx))
    if len(setup_end) and len(ridx) and params.startup_units > 0:
        # Units made since the first reading, at the few readings needed.
        needed = np.concatenate((ridx, ridx + 1, setup_end))
        made_so_far = telemetry.total_count
        units: FloatArray
        if (made_so_far[1:] >= made_so_far[:-1]).all():
            units = (made_so_far[needed] - made_so_far[0]).astype(np.float64)
        else:
            units = np.concatenate(([0.0], np.cumsum(d_total)))[needed]
        m = len(ridx)
        lo = _startup_coverage(units[:m], units[2 * m :], params.startup_units)
        hi = _startup_coverage(units[m : 2 * m], units[2 * m :], params.startup_units)
        made = d_total[ridx]
        share = np.divide(hi - lo, made, out=np.zeros(len(ridx)), where=made > 0)
        su = (made - d_good[ridx]) * np.minimum(share, 1.0)

    e_time = d_kwh = e_start = e_end = e_power = e_kwh = e_state_idx = None
    if energy is not None and len(energy.t_ms) > 1:
        et = energy.t_ms.astype(np.int64, copy=False)
        e_start = et[:-1]
        e_step = np.diff(et)
        if int(e_step.max()) > gap:
            np.minimum(e_step, gap, out=e_step)
            e_end = e_start + e_step
        else:
            e_end = et[1:]
        e_power = energy.power_kw[:-1]
        if np.isnan(e_power).any():
            e_power = np.nan_to_num(e_power)
        e_kwh = np.multiply(e_power, e_step, dtype=np.float64)
        e_kwh /= 3.6e6
        if len(et) == n and np.array_equal(et, t):
            e_state_idx = sidx[:-1] if not len(edges) else np.add(st[:-1], 1, dtype=np.intp)
        else:
            k = np.searchsorted(t, e_start, side="right") - 1
            e_state_idx = np.where(k >= 0, st[np.maximum(k, 0)] + 1, 0).astype(np.intp)
        e_time = et
        register = energy.energy_kwh
        nans = np.isnan(register)
        if not nans.all():
            register = np.nan_to_num(register) if nans.any() else register
            d_kwh = _increments(register, params.rollover_kwh)
        else:
            d_kwh = e_kwh

    return Timeline(
        p_start=p_start,
        p_end=p_end,
        p_category=category,
        p_dur_s=dur,
        stop_start=p_start[first],
        stop_small=small,
        stop_state=state[first],
        d_start=p_start[down],
        d_end=p_end[down],
        d_reason=reason[down],
        reasons=telemetry.reasons,
        c_time=t[1:],
        d_total=d_total,
        d_good=d_good,
        cycle=cycle,
        unknown_cycle=unknown,
        su_time=t[1:][ridx],
        su_count=su,
        su_s=su * cycle[ridx],
        e_time=e_time,
        d_kwh=d_kwh,
        e_start=e_start,
        e_end=e_end,
        e_power=e_power,
        e_kwh=e_kwh,
        e_state_idx=e_state_idx,
    )


def machine_kpi(
    path: MachinePath,
    telemetry: TelemetrySeries,
    energy: EnergySeries | None,
    window: Window,
    params: Params | None = None,
) -> Kpi:
    """The account of one machine over one window (see :func:`build_timeline` for many)."""
    params = params or Params()
    if len(telemetry.t_ms) == 0:
        return Kpi(path=path, window=window, no_data_s=window.seconds, ideal_s=None)
    return build_timeline(telemetry, energy, params).account(window, path)


def aggregate(kpis: Iterable[Oee], path: MachinePath | None = None) -> Kpi:
    """A group's account: sums of times, counts and energy, never a mean of ratios."""
    items: Sequence[Oee] = list(kpis)
    if not items:
        raise ValueError("nothing to aggregate")
    window = items[0].window if isinstance(items[0], Kpi) else None
    summed = total(items)
    return Kpi(path=path, window=window, **{f: getattr(summed, f) for f in _OEE_FIELDS})


_OEE_FIELDS = tuple(Oee.__dataclass_fields__)
__all__ = ["UNSPECIFIED", "Kpi", "Params", "Timeline", "Window", "aggregate", "build_timeline"]
