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
from dataclasses import dataclass, field

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


@dataclass(frozen=True, slots=True)
class Timeline:
    """One machine's readings, classified once; :meth:`account` sums any window."""

    # Pieces of time: [p_start, p_end) with the state of the reading that opened them,
    # cut at calendar edges and at max_gap after each reading (then no data follows).
    p_start: IntArray
    p_end: IntArray
    p_state: npt.NDArray[np.int8]
    p_reason: IntArray
    p_planned: BoolArray
    p_category: npt.NDArray[np.int8]
    p_stop_id: IntArray
    p_stop_first: BoolArray
    stop_small: BoolArray
    reasons: tuple[str, ...]
    # Count intervals ending at each reading after the first.
    c_time: IntArray
    d_total: FloatArray
    d_good: FloatArray
    d_startup_reject: FloatArray
    cycle: FloatArray
    # Energy: register increments ending at each meter reading, and power pieces.
    e_time: IntArray | None = None
    d_kwh: FloatArray | None = None
    e_start: IntArray | None = None
    e_end: IntArray | None = None
    e_power: FloatArray | None = None
    e_state: npt.NDArray[np.int8] | None = None
    _empty: bool = field(default=False)

    def energy_curve(self) -> tuple[IntArray, FloatArray] | None:
        """(times, cumulative kWh) of the meter: register increments, else power x time."""
        if self.e_start is None or self.e_end is None or self.e_power is None:
            return None
        assert self.e_time is not None
        times = np.append(self.e_start[:1], self.e_time)
        if self.d_kwh is not None:
            steps = self.d_kwh
        else:
            steps = self.e_power * (self.e_end - self.e_start) / 3.6e6
        return times, np.concatenate(([0.0], np.cumsum(steps)))

    def breakdown_starts(self, window: Window) -> list[int]:
        """When each breakdown (a long stop that began ``DOWN``) started in the window."""
        first = self.p_stop_first & (self.p_state == DOWN)
        first &= (self.p_start >= window.start_ms) & (self.p_start < window.end_ms)
        if not len(self.stop_small):
            return []
        long_ = ~self.stop_small[np.maximum(self.p_stop_id, 0)]
        out: list[int] = self.p_start[first & long_].tolist()
        return out

    def base_load_kw(self, window: Window) -> float | None:
        """Median power while idle (powered, not producing) in the window."""
        if self.e_start is None or self.e_power is None or self.e_state is None:
            return None
        inside = (self.e_start >= window.start_ms) & (self.e_start < window.end_ms)
        idle = self.e_power[inside & (self.e_state == IDLE)]
        return float(np.median(idle)) if len(idle) else None

    def account(self, window: Window, path: MachinePath | None = None) -> Kpi:
        a, b = window.start_ms, window.end_ms
        i, j = np.searchsorted(self.p_end, a, side="right"), np.searchsorted(self.p_start, b)
        s = slice(int(i), int(j))
        d = (np.minimum(self.p_end[s], b) - np.maximum(self.p_start[s], a)) / 1000.0
        d = np.maximum(d, 0.0)
        cat = self.p_category[s]
        covered = float(d.sum())
        sums = np.bincount(cat, weights=d, minlength=_NCAT)
        stop_id = self.p_stop_id[s]
        first_piece = self.p_stop_first[s] & (self.p_start[s] >= a)
        stops = int(first_piece.sum())
        small_stops = 0
        if len(self.stop_small):
            small_stops = int((first_piece & self.stop_small[np.maximum(stop_id, 0)]).sum())
        down = (cat == _CAT_SMALL) | (cat == _CAT_LONG) | (cat == _CAT_SETUP)
        reason_s = np.bincount(self.p_reason[s][down], weights=d[down], minlength=len(self.reasons))
        by_reason = {self.reasons[k]: float(v) for k, v in enumerate(reason_s.tolist()) if v > 0}

        ci, cj = np.searchsorted(self.c_time, [a, b], side="right")
        cs = slice(int(ci), int(cj))  # readings in (a, b]
        d_total, d_good, cycle = self.d_total[cs], self.d_good[cs], self.cycle[cs]
        made = d_total > 0
        ideal: float | None = None
        if not np.isnan(cycle[made]).any():
            ideal = float((np.nan_to_num(cycle) * d_total).sum())
        rejects = d_total - d_good
        startup = self.d_startup_reject[cs]
        cyc = np.nan_to_num(cycle)

        energy: float | None = None
        by_state: dict[str, float] = {}
        if self.e_time is not None and self.d_kwh is not None:
            ei, ej = np.searchsorted(self.e_time, [a, b], side="right")
            energy = float(self.d_kwh[int(ei) : int(ej)].sum())
        if self.e_start is not None and self.e_end is not None:
            assert self.e_power is not None and self.e_state is not None
            pi = np.searchsorted(self.e_end, a, side="right")
            pj = np.searchsorted(self.e_start, b)
            ps = slice(int(pi), int(pj))
            ed = np.maximum(np.minimum(self.e_end[ps], b) - np.maximum(self.e_start[ps], a), 0)
            kwh = self.e_power[ps] * ed / 3.6e6
            st = self.e_state[ps].astype(np.int64)
            known = st >= 0
            per = np.bincount(st[known], weights=kwh[known], minlength=len(STATE_NAMES))
            by_state = {STATE_NAMES[k]: float(v) for k, v in enumerate(per.tolist()) if v > 0}
            if (~known).any():
                by_state["unknown"] = float(kwh[~known].sum())
            if energy is None:
                energy = float(kwh.sum())

        return Kpi(
            path=path,
            window=window,
            planned_busy_s=float(sums[[_CAT_RUN, _CAT_SMALL, _CAT_LONG, _CAT_SETUP]].sum()),
            run_s=float(sums[_CAT_RUN]),
            small_stop_s=float(sums[_CAT_SMALL]),
            breakdown_s=float(sums[_CAT_LONG]),
            setup_s=float(sums[_CAT_SETUP]),
            no_data_s=window.seconds - covered,
            ideal_s=ideal,
            total_count=round(float(d_total.sum())),
            good_count=round(float(d_good.sum())),
            startup_reject_count=round(float(startup.sum())),
            startup_reject_s=float((cyc * startup).sum()),
            reject_s=float((cyc * rejects).sum()),
            stops=stops,
            small_stops=small_stops,
            energy_kwh=energy,
            energy_by_state_kwh=by_state,
            downtime_by_reason_s=dict(sorted(by_reason.items())),
        )


_CAT_RUN, _CAT_SMALL, _CAT_LONG, _CAT_SETUP, _CAT_UNPLANNED = range(5)
_NCAT = 5
_STOP_STATES = (DOWN, IDLE, OFF, UNKNOWN)


def build_timeline(
    telemetry: TelemetrySeries, energy: EnergySeries | None, params: Params
) -> Timeline:
    """Classify one machine's readings (sorted by time) once, for any number of windows."""
    t = telemetry.t_ms.astype(np.int64, copy=False)
    n = len(t)
    gap = int(params.max_gap_s * 1000)
    # Pieces: each reading opens one, cut at calendar edges.
    data_end = np.empty(n, dtype=np.int64)
    data_end[:-1] = np.minimum(t[1:], t[:-1] + gap)
    data_end[-1] = t[-1]  # the last reading marks an instant; what follows is unknown
    edges = _calendar_edges(params.calendar, int(t[0]), int(t[-1]))
    owner = np.arange(n)
    p_start = t
    if len(edges):
        owner_of_edge = np.searchsorted(t, edges, side="right") - 1
        at = np.searchsorted(t, edges, side="right")
        p_start = np.insert(t, at, edges)
        owner = np.insert(owner, at, owner_of_edge)
        keep = np.concatenate((p_start[1:] != p_start[:-1], [True]))  # edge on a reading
        p_start, owner = p_start[keep], owner[keep]
    p_next = np.append(p_start[1:], t[-1])
    p_end = np.minimum(p_next, data_end[owner])
    p_start = np.minimum(p_start, p_end)
    state = telemetry.state[owner]
    planned = _planned_mask(p_start, state, params.calendar)

    is_stop = planned & np.isin(state, _STOP_STATES)
    # A stop continues while pieces are stops and touch each other.
    touching = np.concatenate(([False], p_start[1:] == p_end[:-1]))
    cont = is_stop & np.concatenate(([False], is_stop[:-1])) & touching
    new = is_stop & ~cont
    stop_id = np.where(is_stop, np.cumsum(new) - 1, -1)
    n_stops = int(new.sum())
    dur = (p_end - p_start) / 1000.0
    length = np.bincount(stop_id[is_stop], weights=dur[is_stop], minlength=n_stops)
    small = length < params.micro_stop_threshold_s
    category = np.full(len(p_start), _CAT_UNPLANNED, dtype=np.int8)
    category[planned & (state == RUN)] = _CAT_RUN
    category[planned & (state == SETUP)] = _CAT_SETUP
    category[is_stop] = np.where(small[stop_id[is_stop]], _CAT_SMALL, _CAT_LONG)

    # Counts: increments at each reading after the first.
    d_total = counter_increments(telemetry.total_count)
    d_good = counter_increments(telemetry.good_count)
    rejects = d_total - d_good
    units = np.concatenate(([0.0], np.cumsum(d_total)))
    st = telemetry.state
    setup_end = np.flatnonzero((st[:-1] == SETUP) & (st[1:] != SETUP)) + 1
    coverage = _startup_coverage(units, units[setup_end], params.startup_units)
    startup_units = np.diff(coverage)
    share = np.divide(startup_units, d_total, out=np.zeros(len(d_total)), where=d_total > 0)
    d_startup_reject = rejects * np.minimum(share, 1.0)

    e_time = d_kwh = e_start = e_end = e_power = e_state = None
    if energy is not None and len(energy.t_ms) > 1:
        et = energy.t_ms.astype(np.int64, copy=False)
        e_time = et[1:]
        if not np.isnan(energy.energy_kwh).all():
            d_kwh = counter_increments(energy.energy_kwh, params.rollover_kwh)
        e_start = et[:-1]
        e_end = np.minimum(et[1:], et[:-1] + gap)
        e_power = energy.power_kw[:-1]
        k = np.searchsorted(t, e_start, side="right") - 1
        e_state = np.where(k >= 0, telemetry.state[np.maximum(k, 0)], UNKNOWN).astype(np.int8)

    return Timeline(
        p_start=p_start,
        p_end=p_end,
        p_state=state,
        p_reason=telemetry.reason[owner],
        p_planned=planned,
        p_category=category,
        p_stop_id=stop_id,
        p_stop_first=new,
        stop_small=small,
        reasons=telemetry.reasons,
        c_time=t[1:],
        d_total=d_total,
        d_good=d_good,
        d_startup_reject=d_startup_reject,
        cycle=telemetry.ideal_cycle_s[:-1],
        e_time=e_time,
        d_kwh=d_kwh,
        e_start=e_start,
        e_end=e_end,
        e_power=e_power,
        e_state=e_state,
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
