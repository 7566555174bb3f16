"""OEE (ISO 22400-2) with the six big losses, and energy by state, from telemetry.

A machine's readings become a **timeline** once (:func:`build_timeline`), which
then gives the exact account (:class:`plant.oee.Oee`) of any window: a
shift, an hour, a day. Definitions are in :mod:`plant.oee`; here is how
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

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analytics.oee.accounts import Kpi, Params, Window
from analytics.oee.counters import BoolArray, FloatArray, IntArray, increments, startup_coverage
from plant.model import Calendar
from store.series import EnergySeries, TelemetrySeries
from telemetry.models import DOWN, IDLE, OFF, PLANNED_STOP, RUN, SETUP, STATE_NAMES
from telemetry.topic import MachinePath

UNKNOWN = -1


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


_CAT_RUN, _CAT_SMALL, _CAT_LONG, _CAT_SETUP, _CAT_UNPLANNED = range(5)
_NCAT = 5
LOSS_NAMES: tuple[str, ...] = ("running", "small_stop", "breakdown", "setup", "not_planned")
"""The loss category of a run, by its code (``Timeline.r_category``)."""
# Indexed by state code + 1 (so that UNKNOWN, -1, comes first):
# UNKNOWN, RUNNING, IDLE, DOWN, SETUP, PLANNED_STOP, OFF.
_PLANNED_CATEGORY = np.array(
    [_CAT_LONG, _CAT_RUN, _CAT_LONG, _CAT_LONG, _CAT_SETUP, _CAT_UNPLANNED, _CAT_LONG],
    dtype=np.int8,
)
"""The category of a planned piece by its state; stops start as breakdowns (LONG)."""
_CATEGORY_WITHOUT_CALENDAR = np.where(
    [True, True, True, True, True, False, False], _PLANNED_CATEGORY, _CAT_UNPLANNED
).astype(np.intp)
"""Without a calendar, every state but PLANNED_STOP and OFF is planned."""


@dataclass(frozen=True, slots=True)
class Timeline:
    """One machine's readings, classified once; :meth:`account` sums any window.

    Readings are grouped into **runs**: stretches with one state and one reason, with
    no missing data inside and no calendar edge across. At 1 Hz a machine changes state
    every few minutes, so a week of 600,000 readings makes a few thousand runs: times,
    stops, the Pareto and energy by state are sums over runs, and only counts and the
    register are summed per reading (a ``dot`` or ``sum`` over the window's slice)."""

    r_start: IntArray
    r_end: IntArray
    r_category: npt.NDArray[np.intp]
    r_state: npt.NDArray[np.int8]
    r_reason: IntArray
    # Stops (runs of stop runs): where each starts, whether small, the state it began in.
    stop_start: IntArray
    stop_small: BoolArray
    stop_state: npt.NDArray[np.int8]
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
    # Energy: meter readings, register increments ending at each reading after the first,
    # and pieces of power [e_start, e_end) grouped into runs of one machine state.
    e_time: IntArray | None = None
    d_kwh: FloatArray | None = None
    e_end: IntArray | None = None
    e_power: FloatArray | None = None
    e_kwh: FloatArray | None = None
    er_first: IntArray | None = None
    er_state: npt.NDArray[np.intp] | None = None
    er_kwh: FloatArray | None = None

    def energy_curve(self) -> tuple[IntArray, FloatArray] | None:
        """(times, cumulative kWh from the first reading) of the meter."""
        if self.e_time is None or self.d_kwh is None:
            return None
        return self.e_time, np.concatenate(([0.0], np.cumsum(self.d_kwh)))

    def runs(self, window: Window) -> list[dict[str, object]]:
        """The state timeline inside the window (for a Gantt chart): one item per run, cut
        to the window; ``planned`` False where the time was not planned."""
        a, b = window.start_ms, window.end_ms
        i = int(np.searchsorted(self.r_end, a, side="right"))
        j = max(i, int(np.searchsorted(self.r_start, b, side="left")))
        names = ("UNKNOWN", *STATE_NAMES)
        out: list[dict[str, object]] = []
        for k in range(i, j):
            start, end = max(int(self.r_start[k]), a), min(int(self.r_end[k]), b)
            if end <= start:
                continue
            out.append({
                "start_ms": start,
                "end_ms": end,
                "state": names[int(self.r_state[k]) + 1],
                "reason": self.reasons[int(self.r_reason[k])],
                "loss": LOSS_NAMES[int(self.r_category[k])],
            })  # fmt: skip
        return out

    def breakdown_starts(self, window: Window) -> list[int]:
        """When each breakdown (a long stop that began ``DOWN``) started in the window."""
        pick = ~self.stop_small & (self.stop_state == DOWN)
        pick &= (self.stop_start >= window.start_ms) & (self.stop_start < window.end_ms)
        out: list[int] = self.stop_start[pick].tolist()
        return out

    def idle_seconds(self, window: Window) -> float:
        """Metered time in ``IDLE`` inside the window (the base load's denominator)."""
        if self.e_time is None or self.er_first is None or self.e_end is None:
            return 0.0
        assert self.er_state is not None
        starts = self.e_time[:-1]
        a, b = window.start_ms, window.end_ms
        pi = int(np.searchsorted(self.e_end, a, side="right"))
        pj = max(pi, int(np.searchsorted(starts, b, side="left")))
        if pj <= pi:
            return 0.0
        run = np.searchsorted(self.er_first, np.arange(pi, pj), side="right") - 1
        idle = self.er_state[run] == IDLE + 1
        lo = np.maximum(starts[pi:pj][idle], a)
        hi = np.minimum(self.e_end[pi:pj][idle], b)
        return float(np.clip(hi - lo, 0, None).sum()) / 1000

    def account(self, window: Window, path: MachinePath | None = None) -> Kpi:
        a, b = window.start_ms, window.end_ms
        i = int(np.searchsorted(self.r_end, a, side="right"))
        j = max(i, int(np.searchsorted(self.r_start, b, side="left")))
        d = (np.minimum(self.r_end[i:j], b) - np.maximum(self.r_start[i:j], a)) / 1000.0
        cat = self.r_category[i:j]
        sums = np.bincount(cat, weights=d, minlength=_NCAT)
        si, sj = np.searchsorted(self.stop_start, [a, b])
        down = cat != _CAT_RUN
        down &= cat != _CAT_UNPLANNED
        per_reason = np.bincount(self.r_reason[i:j][down], weights=d[down],
                                 minlength=len(self.reasons))  # fmt: skip
        by_reason = {self.reasons[k]: float(v) for k, v in enumerate(per_reason.tolist()) if v > 0}

        ci, cj = (int(x) for x in np.searchsorted(self.c_time, [a, b], side="right"))
        cycle = self.cycle[ci:cj]
        made_ideal = float(np.dot(cycle, self.d_total[ci:cj]))
        ideal: float | None = made_ideal
        if self.unknown_cycle is not None and self.unknown_cycle[ci:cj].any():
            ideal = None
        ui, uj = (int(x) for x in np.searchsorted(self.su_time, [a, b], side="right"))

        energy: float | None = None
        if self.e_time is not None and self.d_kwh is not None:
            ei, ej = np.searchsorted(self.e_time[1:], [a, b], side="right")
            energy = float(self.d_kwh[int(ei) : int(ej)].sum())

        return Kpi(
            path=path,
            window=window,
            planned_busy_s=float(sums[[_CAT_RUN, _CAT_SMALL, _CAT_LONG, _CAT_SETUP]].sum()),
            run_s=float(sums[_CAT_RUN]),
            small_stop_s=float(sums[_CAT_SMALL]),
            breakdown_s=float(sums[_CAT_LONG]),
            setup_s=float(sums[_CAT_SETUP]),
            no_data_s=max(window.seconds - float(sums.sum()), 0.0),
            ideal_s=ideal,
            total_count=round(float(self.d_total[ci:cj].sum())),
            good_count=round(float(self.d_good[ci:cj].sum())),
            startup_reject_count=round(float(self.su_count[ui:uj].sum())),
            startup_reject_s=float(self.su_s[ui:uj].sum()),
            reject_s=made_ideal - float(np.dot(cycle, self.d_good[ci:cj])),
            stops=int(sj - si),
            small_stops=int(self.stop_small[si:sj].sum()),
            energy_kwh=energy,
            energy_by_state_kwh=self._energy_by_state(a, b),
            downtime_by_reason_s=dict(sorted(by_reason.items())),
        )

    def _energy_by_state(self, a: int, b: int) -> dict[str, float]:
        """Power x time per state over [a, b): whole runs, then the runs and pieces at the
        window's edges cut to it."""
        if self.e_time is None or self.er_first is None:
            return {}
        assert self.e_end is not None and self.e_power is not None and self.e_kwh is not None
        assert self.er_state is not None and self.er_kwh is not None
        starts = self.e_time[:-1]
        pi = int(np.searchsorted(self.e_end, a, side="right"))
        pj = max(pi, int(np.searchsorted(starts, b, side="left")))
        per = np.zeros(len(STATE_NAMES) + 1)
        if pj > pi:
            ri = int(np.searchsorted(self.er_first, pi, side="right")) - 1
            rj = int(np.searchsorted(self.er_first, pj, side="left"))
            first, last = self.er_first[ri:rj].copy(), np.append(self.er_first[ri + 1 : rj], pj)
            first[0] = pi
            kwh = self.er_kwh[ri:rj].copy()
            if len(kwh) == 1:
                kwh[0] = self.e_kwh[pi:pj].sum()
            else:
                kwh[0] = self.e_kwh[first[0] : last[0]].sum()
                kwh[-1] = self.e_kwh[first[-1] : last[-1]].sum()
            np.add.at(per, self.er_state[ri:rj], kwh)
            for k, cut in ((pi, a - int(starts[pi])), (pj - 1, int(self.e_end[pj - 1]) - b)):
                if cut > 0:
                    run = int(np.searchsorted(self.er_first, k, side="right")) - 1
                    per[self.er_state[run]] -= cut * float(self.e_power[k]) / 3.6e6
        names = ("unknown", *STATE_NAMES)
        return {names[k]: float(v) for k, v in enumerate(per.tolist()) if v > 1e-12}


def _split_at(
    r_start: IntArray, r_end: IntArray, owner: IntArray, edges: IntArray
) -> tuple[IntArray, IntArray, IntArray]:
    """Cut runs at calendar edges that fall inside them; ``owner`` maps runs to readings."""
    k = np.searchsorted(r_start, edges, side="right") - 1
    inside = (k >= 0) & (edges > r_start[np.maximum(k, 0)]) & (edges < r_end[np.maximum(k, 0)])
    if not inside.any():
        return r_start, r_end, owner
    cut, run = edges[inside], k[inside]
    starts = np.concatenate((r_start, cut))
    runs = np.concatenate((np.arange(len(r_start)), run))
    order = np.lexsort((starts, runs))
    starts, runs = starts[order], runs[order]
    ends = np.where(np.append(runs[1:] == runs[:-1], False), np.append(starts[1:], 0), r_end[runs])
    return starts, ends, owner[runs]


def build_timeline(
    telemetry: TelemetrySeries, energy: EnergySeries | None, params: Params
) -> Timeline:
    """Classify one machine's readings (sorted by time) once, for any number of windows."""
    t = telemetry.t_ms.astype(np.int64, copy=False)
    n = len(t)
    gap = int(params.max_gap_s * 1000)
    state, reason = telemetry.state, telemetry.reason
    step = np.diff(t)
    change = state[1:] != state[:-1]
    change |= reason[1:] != reason[:-1]
    gapped = len(step) > 0 and int(step.max()) > gap
    if gapped:
        change |= step > gap
    first = np.concatenate(([0], np.flatnonzero(change) + 1))  # readings that open runs
    last = np.append(first[1:] - 1, n - 1)
    r_start = t[first]
    r_end = np.minimum(t[np.minimum(last + 1, n - 1)], t[last] + gap)
    r_end[-1] = t[-1]  # the last reading marks an instant; what follows is unknown
    owner = first
    edges = _calendar_edges(params.calendar, int(t[0]), int(t[-1]))
    if len(edges):
        r_start, r_end, owner = _split_at(r_start, r_end, owner, edges)
    r_state, r_reason = state[owner], reason[owner]
    sidx = r_state.astype(np.intp) + 1
    if params.calendar is None:
        category = _CATEGORY_WITHOUT_CALENDAR[sidx]
    else:
        planned = _planned_mask(r_start, r_state, params.calendar)
        category = np.where(planned, _PLANNED_CATEGORY[sidx], _CAT_UNPLANNED).astype(np.intp)

    # Stops: touching stop runs; each stop's whole length decides small or not.
    is_stop = category == _CAT_LONG
    joined = is_stop[1:] & is_stop[:-1] & (r_start[1:] == r_end[:-1])
    s_first = np.flatnonzero(is_stop & ~np.concatenate(([False], joined)))
    s_last = np.flatnonzero(is_stop & ~np.concatenate((joined, [False])))
    dur = (r_end - r_start) / 1000.0
    cum = np.concatenate(([0.0], np.cumsum(np.where(is_stop, dur, 0.0))))
    small = (cum[s_last + 1] - cum[s_first]) < params.micro_stop_threshold_s
    if small.any():
        runs = np.flatnonzero(is_stop)
        category[runs[np.repeat(small, s_last - s_first + 1)]] = _CAT_SMALL

    # Counts: increments at each reading after the first.
    d_total = increments(telemetry.total_count)
    d_good = increments(telemetry.good_count)
    cycle = telemetry.ideal_cycle_s[:-1]
    unknown = None
    if np.isnan(cycle).any():
        unknown = np.isnan(cycle) & (d_total > 0)
        cycle = np.nan_to_num(cycle)
    # Start-up rejects: only where there are rejects (few), by the units' place on the
    # cumulative axis relative to the first ``startup_units`` after each changeover.
    setup_end = first[1:][state[first[1:] - 1] == SETUP]
    setup_end = setup_end[state[setup_end] != SETUP]
    ridx = np.flatnonzero(d_total != d_good)
    su = np.zeros(len(ridx))
    if len(setup_end) and len(ridx) and params.startup_units > 0:
        needed = np.concatenate((ridx, ridx + 1, setup_end))
        made_so_far = telemetry.total_count
        units: FloatArray
        if (d_total >= 0).all() and (made_so_far[1:] >= made_so_far[:-1]).all():
            units = (made_so_far[needed] - made_so_far[0]).astype(np.float64)
        else:
            units = np.concatenate(([0.0], np.cumsum(d_total)))[needed]
        m = len(ridx)
        lo = startup_coverage(units[:m], units[2 * m :], params.startup_units)
        hi = startup_coverage(units[m : 2 * m], units[2 * m :], params.startup_units)
        made = d_total[ridx]
        share = np.divide(hi - lo, made, out=np.zeros(len(ridx)), where=made > 0)
        su = (made - d_good[ridx]) * np.minimum(share, 1.0)

    e_time = d_kwh = e_end = e_power = e_kwh = er_first = er_state = er_kwh = None
    if energy is not None and len(energy.t_ms) > 1:
        et = energy.t_ms.astype(np.int64, copy=False)
        same_clock = len(et) == n and np.array_equal(et, t)
        e_step = step.copy() if same_clock else np.diff(et)
        if int(e_step.max()) > gap:
            np.minimum(e_step, gap, out=e_step)
        e_end = et[:-1] + e_step
        e_power = energy.power_kw[:-1]
        if np.isnan(e_power).any():
            e_power = np.nan_to_num(e_power)
        e_kwh = np.multiply(e_power, e_step, dtype=np.float64)
        e_kwh /= 3.6e6
        if same_clock:  # the telemetry runs, over the meter's pieces
            er_first = first[first < n - 1]
            er_state = state[er_first].astype(np.intp) + 1
        else:
            k = np.searchsorted(t, et[:-1], side="right") - 1
            e_state = np.where(k >= 0, state[np.maximum(k, 0)].astype(np.intp) + 1, 0)
            er_first = np.concatenate(([0], np.flatnonzero(e_state[1:] != e_state[:-1]) + 1))
            er_state = e_state[er_first]
        er_kwh = np.add.reduceat(e_kwh, er_first) if len(er_first) else np.zeros(0)
        e_time = et
        register = energy.energy_kwh
        nans = np.isnan(register)
        if not nans.all():
            register = np.nan_to_num(register) if nans.any() else register
            d_kwh = increments(register, params.rollover_kwh)
        else:
            d_kwh = e_kwh

    return Timeline(
        r_start=r_start,
        r_end=r_end,
        r_category=category,
        r_state=r_state,
        r_reason=r_reason,
        stop_start=r_start[s_first],
        stop_small=small,
        stop_state=r_state[s_first],
        reasons=telemetry.reasons,
        c_time=t[1:],
        d_total=d_total,
        d_good=d_good,
        cycle=cycle,
        unknown_cycle=unknown,
        su_time=t[1:][ridx],
        su_count=np.round(su),  # whole units per reading: sums of any windows add up
        su_s=su * cycle[ridx],
        e_time=e_time,
        d_kwh=d_kwh,
        e_end=e_end,
        e_power=e_power,
        e_kwh=e_kwh,
        er_first=er_first,
        er_state=er_state,
        er_kwh=er_kwh,
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


__all__ = ["Timeline", "build_timeline", "machine_kpi"]
