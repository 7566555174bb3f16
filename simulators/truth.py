"""Ground truth computed from a machine's own timeline, never from its telemetry."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from simulators.machine import OFF, PLANNED, RUN, MachineRun


@dataclass(frozen=True, slots=True)
class MachineTruth:
    """What really happened on one machine over the simulated window."""

    availability: float | None
    """None when nothing was planned (no shift): there is no availability to speak of."""
    performance: float | None
    quality: float | None
    oee: float | None
    total_count: int
    good_count: int
    energy_kwh: float
    kwh_per_good_unit: float | None
    run_s: float
    planned_busy_s: float

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def machine_truth(run: MachineRun) -> MachineTruth:
    dur_s = (run.seg_end - run.seg_start) / 1000.0
    running = run.seg_state == RUN
    run_s = float(dur_s[running].sum())
    excluded = (run.seg_state == PLANNED) | (run.seg_state == OFF)
    planned_s = float(dur_s.sum() - dur_s[excluded].sum())
    end = np.array([run.end_ms], dtype=np.int64)
    total, good = (int(x[0]) for x in run.counts(end))
    # Units completed within each segment, weighted by that segment's ideal cycle.
    prod_end = run.prod_at_start + np.where(running, run.seg_speed / run.ideal_cycle * dur_s, 0.0)
    units = np.floor(prod_end + 1e-9) - np.floor(run.prod_at_start + 1e-9)
    ideal_s = float((units * run.ideal_cycle).sum())
    availability = run_s / planned_s if planned_s > 0 else None
    performance = ideal_s / run_s if run_s > 0 else None
    quality = good / total if total else None
    oee = (
        availability * performance * quality
        if availability is not None and performance is not None and quality is not None
        else None
    )
    kwh = float(run.energy_kwh(end)[0])
    return MachineTruth(
        availability=availability,
        performance=performance,
        quality=quality,
        oee=oee,
        total_count=total,
        good_count=good,
        energy_kwh=kwh,
        kwh_per_good_unit=kwh / good if good else None,
        run_s=run_s,
        planned_busy_s=planned_s,
    )
