"""Process sensors that respond to the machine's state, with injected bearing faults.

- ``temperature_c``: a first-order thermal lag towards a target that depends on
  the state and speed (running heats, stopping cools), solved exactly per segment.
- ``vibration_mm_s``: higher while running, growing slowly with wear (run hours);
  before some failures a bearing fault makes it ramp up for ``lead_s`` (and the
  temperature with it). Those ramps are the anomalies a predictive model should
  find early; their windows are part of the ground truth.

A separate random generator per machine keeps the machine timelines (and so
every other KPI) unchanged whether sensors are on or not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulators.machine import FAILURE_REASONS, MachineRun
from telemetry.models import DOWN, RUN, SETUP

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SensorSpec:
    ambient_c: float = 25.0
    rise_c: float = 35.0
    tau_s: float = 600.0
    vibration_idle: float = 0.2
    vibration_run: float = 1.2
    wear_per_run_hour: float = 0.003
    bearing_fault_share: float = 0.3
    """Share of failures preceded by a bearing fault."""
    lead_s: float = 1800.0
    fault_vibration: float = 4.0
    fault_temperature_c: float = 8.0
    noise: float = 0.03


@dataclass(frozen=True, slots=True)
class Anomaly:
    start_ms: int
    failure_ms: int


@dataclass(frozen=True, slots=True)
class SensorTrack:
    temperature_c: FloatArray
    vibration_mm_s: FloatArray
    anomalies: tuple[Anomaly, ...]


def simulate_sensors(
    run: MachineRun, times_ms: npt.NDArray[np.int64], rng: np.random.Generator, spec: SensorSpec
) -> SensorTrack:
    state, speed = run.seg_state, run.seg_speed
    running = state == RUN
    target = np.where(running, spec.ambient_c + spec.rise_c * speed, spec.ambient_c)
    target = np.where(state == SETUP, spec.ambient_c + 0.2 * spec.rise_c, target)
    dur_s = (run.seg_end - run.seg_start) / 1000.0
    t0 = np.empty(len(state))
    temp = spec.ambient_c
    for i in range(len(state)):  # one step per segment, not per reading
        t0[i] = temp
        temp = target[i] + (temp - target[i]) * np.exp(-dur_s[i] / spec.tau_s)
    seg = run._segment_of(times_ms)
    age = (times_ms - run.seg_start[seg]) / 1000.0
    temperature = target[seg] + (t0[seg] - target[seg]) * np.exp(-age / spec.tau_s)

    run_before = np.concatenate(([0.0], np.cumsum(np.where(running, dur_s, 0.0))[:-1]))
    run_hours = (run_before[seg] + np.where(running[seg], age, 0.0)) / 3600.0
    vibration = np.where(
        running[seg], spec.vibration_run + spec.wear_per_run_hour * run_hours, spec.vibration_idle
    )

    anomalies = []
    for i in np.flatnonzero(state == DOWN).tolist():
        if run.seg_reason[i] not in FAILURE_REASONS:
            continue  # short stops give no warning
        if rng.random() >= spec.bearing_fault_share:
            continue
        fail = int(run.seg_start[i])
        start = int(max(fail - int(spec.lead_s * 1000), run.start_ms))
        anomalies.append(Anomaly(start, fail))
        inside = (times_ms >= start) & (times_ms < fail)
        ramp = (times_ms[inside] - start) / max(fail - start, 1)
        vibration[inside] += spec.fault_vibration * ramp * running[seg][inside]
        temperature[inside] += spec.fault_temperature_c * ramp

    vibration *= 1.0 + spec.noise * rng.standard_normal(len(times_ms))
    temperature += spec.noise * 10 * rng.standard_normal(len(times_ms))
    return SensorTrack(
        temperature_c=np.round(temperature, 2).astype(np.float64),
        vibration_mm_s=np.round(np.maximum(vibration, 0.0), 3).astype(np.float64),
        anomalies=tuple(anomalies),
    )
