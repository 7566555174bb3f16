"""Anomaly detection on process sensors: a robust z-score of smoothed vibration.

Causal, so it can run on a stream: every decision uses only readings up to that
instant. For each machine, only readings taken while it runs count (a stopped
machine does not vibrate). The signal is the mean of the last ``smooth`` running
readings; the machine's own normal is the median of the 10-minute block medians
from three hours to thirty minutes earlier, its spread the median of their
median absolute deviations (x 1.4826). A reading whose smoothed vibration is
more than ``z`` spreads above normal raises an alarm; alarms closer than
``merge_s`` make one event. A bearing fault that ramps up before a failure shows
as an event well before the failure; :func:`evaluate` scores events against the
simulator's injected faults (precision, recall, lead time).

Temperature is not used for alarms: it follows every start and stop with a
thermal lag, so a z-score on it would mostly measure the production schedule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.clock import HOUR_MS
from telemetry.topic import MachinePath

SIGNAL = "vibration_mm_s"
BLOCK_MS = 600_000
HISTORY_MS = 3 * HOUR_MS + BLOCK_MS
"""How much history the detector wants before a window (the normal is taken from the
18 ten-minute blocks before, whole)."""


@dataclass(frozen=True, slots=True)
class Event:
    path: MachinePath
    signal: str
    start_ms: int
    end_ms: int
    peak_z: float

    def as_dict(self) -> dict[str, Any]:
        return {"machine": str(self.path), "signal": self.signal, "start_ms": self.start_ms,
                "end_ms": self.end_ms, "peak_z": round(self.peak_z, 1)}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Detector:
    z: float = 8.0
    smooth: int = 12
    skip_blocks: int = 3
    history_blocks: int = 18
    min_blocks: int = 3
    merge_s: float = 600.0

    def detect(
        self, path: MachinePath, t_ms: np.ndarray, value: np.ndarray, running: np.ndarray
    ) -> list[Event]:
        """Alarms merged into events."""
        t, z = self.alarms(t_ms, value, running)
        if len(t) == 0:
            return []
        gaps = np.flatnonzero(np.diff(t) > self.merge_s * 1000) + 1
        return [
            Event(path, SIGNAL, int(t[run[0]]), int(t[run[-1]]), float(np.max(z[run])))
            for run in np.split(np.arange(len(t)), gaps)
        ]

    def alarms(
        self, t_ms: np.ndarray, value: np.ndarray, running: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(times, z) of the readings that raise an alarm."""
        keep = running & ~np.isnan(value)
        index = np.flatnonzero(keep)
        t, v = t_ms[keep].astype(np.int64), value[keep].astype(np.float64)
        if len(t) < self.smooth:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        # The mean starts again with every run: readings from before a stop (a failure
        # and its repair) say nothing about the machine after it.
        run_start = np.maximum.accumulate(
            np.where(np.diff(index, prepend=-2) != 1, np.arange(len(index)), 0)
        )
        c = np.concatenate(([0.0], np.cumsum(v)))
        k = np.arange(1, len(v) + 1)
        lo = np.maximum(k - self.smooth, run_start)
        smoothed = (c[k] - c[lo]) / (k - lo)
        block = (t // BLOCK_MS).astype(np.int64)
        cuts = np.flatnonzero(np.diff(block)) + 1
        starts = np.concatenate(([0], cuts))
        ends = np.append(cuts, len(v))
        ids = block[starts]
        med = np.array([np.median(v[a:b]) for a, b in zip(starts, ends, strict=True)])
        mad = np.array(
            [np.median(np.abs(v[a:b] - m)) for a, b, m in zip(starts, ends, med, strict=True)]
        )
        base = np.full(len(ids), np.nan)
        spread = np.full(len(ids), np.nan)
        for i, b in enumerate(ids.tolist()):
            hist = (ids >= b - self.history_blocks) & (ids <= b - self.skip_blocks)
            if hist.sum() >= self.min_blocks:
                base[i] = np.median(med[hist])
                spread[i] = 1.4826 * np.median(mad[hist])
        which = np.repeat(np.arange(len(ids)), ends - starts)
        floor = 0.01 * np.abs(base[which])
        z = (smoothed - base[which]) / np.maximum(spread[which], floor)
        alarm = np.nan_to_num(z) > self.z
        return t[alarm], z[alarm]


def evaluate(
    events: Iterable[Event],
    anomalies: Mapping[str, Sequence[Mapping[str, int]]],
    *,
    window: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Score events against injected faults ``{machine: [{start_ms, failure_ms}]}``.

    A fault is found when an event starts between its start and the failure (lead time
    = failure - event start); an event is a false alarm when it starts outside every
    fault's [start, failure + 30 min]. Faults whose failure, and events whose start, is
    outside ``window`` are left out.
    """
    events = [e for e in events if window is None or window[0] <= e.start_ms < window[1]]
    faults = [
        (machine, a["start_ms"], a["failure_ms"])
        for machine, items in anomalies.items()
        for a in items
        if window is None or window[0] <= a["failure_ms"] < window[1]
    ]
    leads = []
    for machine, start, failure in faults:
        hits = [
            e.start_ms for e in events if str(e.path) == machine and start <= e.start_ms <= failure
        ]
        if hits:
            leads.append((failure - min(hits)) / 60_000)
    true = sum(
        any(str(e.path) == m and s <= e.start_ms <= f + 1_800_000 for m, s, f in faults)
        for e in events
    )
    return {
        "faults": len(faults),
        "found": len(leads),
        "events": len(events),
        "false_alarms": len(events) - true,
        "precision": true / len(events) if events else None,
        "recall": len(leads) / len(faults) if faults else None,
        "lead_min_median": float(np.median(leads)) if leads else None,
        "lead_min_min": float(min(leads)) if leads else None,
    }
