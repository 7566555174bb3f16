"""Ground truth computed from a machine's own timeline, never from its telemetry.

Every figure is exact: times are sums of clipped segments, counts come from the
production function and the scrap flag of every unit, energy from the exact
cumulative energy. A stop (consecutive ``DOWN``/``IDLE`` segments) shorter than
the micro-stop threshold is a small stop; its whole length decides, even when a
window cuts it.
"""

from __future__ import annotations

import numpy as np

from plant.oee import UNSPECIFIED, Oee
from simulators.machine import MachineRun
from telemetry.models import DOWN, IDLE, OFF, RUN, SETUP, STATE_NAMES
from telemetry.models import PLANNED_STOP as PLANNED


def _stop_groups(run: MachineRun) -> tuple[np.ndarray, np.ndarray]:
    """Per segment: its stop's id (-1 if not a stop) and the stop's full length in seconds."""
    stop = np.isin(run.seg_state, (DOWN, IDLE))
    starts = stop & ~np.concatenate(([False], stop[:-1]))
    gid = np.where(stop, np.cumsum(starts) - 1, -1)
    dur_s = (run.seg_end - run.seg_start) / 1000.0
    length = np.bincount(gid[stop], weights=dur_s[stop], minlength=int(starts.sum()))
    return gid, length


def _unit_cycles(run: MachineRun) -> np.ndarray:
    """The ideal cycle time of every unit, by the segment it was completed in."""
    dur_s = (run.seg_end - run.seg_start) / 1000.0
    rate = np.where(run.seg_state == RUN, run.seg_speed / run.ideal_cycle, 0.0)
    done_at_end = np.floor(run.prod_at_start + rate * dur_s + 1e-9).astype(np.int64)
    units = np.arange(1, len(run.scrap_flags) + 1)
    seg = np.minimum(np.searchsorted(done_at_end, units, side="left"), len(dur_s) - 1)
    out: np.ndarray = run.ideal_cycle[seg]
    return out


def _startup_units(run: MachineRun) -> np.ndarray:
    """Mask of the units made in the start-up after each changeover."""
    n = len(run.scrap_flags)
    mask = np.zeros(n, dtype=bool)
    firsts = np.floor(run.prod_at_start[run.seg_state == SETUP] + 1e-9).astype(np.int64)
    for first in firsts.tolist():
        mask[first : min(first + run.spec.startup_scrap_units, n)] = True
    return mask


def window_truth(run: MachineRun, a_ms: int, b_ms: int, micro_stop_threshold_s: float) -> Oee:
    """The exact account of one machine over [a_ms, b_ms)."""
    s0 = np.maximum(run.seg_start, a_ms)
    s1 = np.minimum(run.seg_end, b_ms)
    d = np.maximum(s1 - s0, 0) / 1000.0
    state = run.seg_state
    gid, length = _stop_groups(run)
    is_stop = gid >= 0
    small = is_stop & (np.append(length, 0.0)[gid] < micro_stop_threshold_s)
    long_ = is_stop & ~small
    # Stops are counted where they start.
    first = is_stop & ~np.concatenate(([False], is_stop[:-1]))
    starts_in = first & (run.seg_start >= a_ms) & (run.seg_start < b_ms)

    reasons: dict[str, float] = {}
    for i in np.flatnonzero((is_stop | (state == SETUP)) & (d > 0)).tolist():
        key = run.seg_reason[i] or UNSPECIFIED
        reasons[key] = reasons.get(key, 0.0) + float(d[i])

    done = np.floor(run.production(np.array([a_ms, b_ms], dtype=np.int64)) + 1e-9).astype(int)
    u0, u1 = int(done[0]), int(done[1])
    cycles = _unit_cycles(run)[u0:u1]
    scrap = run.scrap_flags[u0:u1]
    startup = _startup_units(run)[u0:u1]
    energy = run.energy_kwh(np.array([a_ms, b_ms], dtype=np.int64))
    by_state = np.bincount(state, weights=run.seg_power_kw * d / 3600.0, minlength=len(STATE_NAMES))
    return Oee(
        planned_busy_s=float(d[~np.isin(state, (PLANNED, OFF))].sum()),
        run_s=float(d[state == RUN].sum()),
        small_stop_s=float(d[small].sum()),
        breakdown_s=float(d[long_].sum()),
        setup_s=float(d[state == SETUP].sum()),
        ideal_s=float(cycles.sum()),
        total_count=u1 - u0,
        good_count=int((~scrap).sum()),
        startup_reject_count=int((scrap & startup).sum()),
        startup_reject_s=float(cycles[scrap & startup].sum()),
        reject_s=float(cycles[scrap].sum()),
        stops=int(starts_in.sum()),
        small_stops=int((starts_in & small).sum()),
        energy_kwh=float(energy[1] - energy[0]),
        energy_by_state_kwh={
            STATE_NAMES[k]: float(v) for k, v in enumerate(by_state.tolist()) if v > 0
        },
        downtime_by_reason_s=dict(sorted(reasons.items())),
    )


def machine_truth(run: MachineRun, micro_stop_threshold_s: float = 120.0) -> Oee:
    return window_truth(run, run.start_ms, run.end_ms, micro_stop_threshold_s)
