"""A site's main (incoming-supply) meter: its machines plus non-production load.

The non-production load is piecewise constant over 5-minute blocks: lighting
(full during shifts, 10 % outside), HVAC on a daily wave, and an air compressor
that loads for a share of each block (70 % during shifts, 20 % outside, with
noise) and unloads at 30 % power for the rest. Its cumulative energy is exact,
so the truth of plant energy and of the non-production share is exact too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from plant.model import MainMeter
from simulators.machine import MachineRun
from telemetry.topic import MachinePath

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

BLOCK_MS = 300_000
RESOLUTION_KWH = 0.01
DEMAND_BLOCK_MS = 900_000
"""Demand is billed on 15-minute blocks aligned to the clock."""


@dataclass(frozen=True, slots=True)
class MainMeterRun:
    path: MachinePath
    times_ms: IntArray
    power_kw: FloatArray
    """Total power (machines + non-production) at each instant."""
    energy_kwh: FloatArray
    """Exact cumulative energy at each instant."""
    machine_runs: tuple[MachineRun, ...]
    np_start: IntArray
    np_power_kw: FloatArray
    np_energy_at_start: FloatArray

    def non_production_kwh(self, t_ms: IntArray) -> FloatArray:
        i = np.clip(np.searchsorted(self.np_start, t_ms, side="right") - 1, 0, None)
        out: FloatArray = (
            self.np_energy_at_start[i] + self.np_power_kw[i] * (t_ms - self.np_start[i]) / 3.6e6
        )
        return out

    def total_kwh(self, t_ms: IntArray) -> FloatArray:
        out = self.non_production_kwh(t_ms)
        for run in self.machine_runs:
            out = out + run.energy_kwh(t_ms)
        return out

    def readings(self, lo: int, hi: int) -> list[dict[str, float | int]]:
        t = self.times_ms[lo:hi].tolist()
        power = np.round(self.power_kw[lo:hi], 3).tolist()
        register = np.round(
            np.floor(self.energy_kwh[lo:hi] / RESOLUTION_KWH + 1e-9) * RESOLUTION_KWH, 6
        ).tolist()
        return [
            {"ts": ts, "seq": lo + k, "power_kw": power[k], "energy_kwh": register[k]}
            for k, ts in enumerate(t)
        ]

    def truth(self, a_ms: int, b_ms: int) -> dict[str, float]:
        """Energy over [a_ms, b_ms): total, machines, non-production, and the peak 15-minute
        demand of the whole site (blocks aligned to the clock, wholly inside the window)."""
        ends = np.array([a_ms, b_ms], dtype=np.int64)
        total = self.total_kwh(ends)
        non_prod = self.non_production_kwh(ends)
        first = -(-a_ms // DEMAND_BLOCK_MS) * DEMAND_BLOCK_MS
        edges = np.arange(first, b_ms + 1, DEMAND_BLOCK_MS, dtype=np.int64)
        peak = (
            float(np.diff(self.total_kwh(edges)).max() / (DEMAND_BLOCK_MS / 3.6e6))
            if len(edges) > 1
            else float("nan")
        )
        return {
            "energy_kwh": float(total[1] - total[0]),
            "machines_kwh": float((total[1] - total[0]) - (non_prod[1] - non_prod[0])),
            "non_production_kwh": float(non_prod[1] - non_prod[0]),
            "peak_15min_kw": peak,
        }


def simulate_main_meter(
    path: MachinePath,
    meter: MainMeter,
    runs: list[MachineRun],
    times_ms: IntArray,
    periods: list[tuple[int, int, str, str]],
    rng: np.random.Generator,
) -> MainMeterRun:
    start, end = int(times_ms[0]), int(times_ms[-1])
    blocks = np.arange(start, end, BLOCK_MS, dtype=np.int64)
    in_shift = np.zeros(len(blocks), dtype=bool)
    for a, b, kind, _ in periods:
        if kind == "shift":
            in_shift |= (blocks >= a) & (blocks < b)
    hour = (blocks / 3.6e6) % 24
    base = np.where(in_shift, meter.lighting_kw, 0.1 * meter.lighting_kw) + meter.hvac_kw * (
        1 + 0.3 * np.sin(2 * np.pi * (hour - 9) / 24)
    )
    duty = np.clip(rng.normal(np.where(in_shift, 0.7, 0.2), 0.05), 0.05, 0.95)
    load_end = blocks + np.round(duty * BLOCK_MS).astype(np.int64)
    np_start = np.empty(2 * len(blocks), dtype=np.int64)
    np_start[0::2], np_start[1::2] = blocks, load_end
    np_power = np.empty(2 * len(blocks))
    np_power[0::2] = base + meter.compressor_kw
    np_power[1::2] = base + 0.3 * meter.compressor_kw
    np_kwh = np_power * np.diff(np.append(np_start, end)) / 3.6e6
    np_energy_at_start = np.concatenate(([0.0], np.cumsum(np_kwh)[:-1]))
    power = np_power[np.clip(np.searchsorted(np_start, times_ms, side="right") - 1, 0, None)]
    for run in runs:
        power = power + run.seg_power_kw[run._segment_of(times_ms)]
    out = MainMeterRun(
        path=path,
        times_ms=times_ms,
        power_kw=power,
        energy_kwh=np.zeros(len(times_ms)),
        machine_runs=tuple(runs),
        np_start=np_start,
        np_power_kw=np_power,
        np_energy_at_start=np_energy_at_start,
    )
    out.energy_kwh[:] = out.total_kwh(times_ms)
    return out
