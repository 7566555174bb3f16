"""What a stop is, defined once, for the machine page, the reasons panel and the alerts.

A **stop** is a stretch of a machine's planned time in which it does not run: touching runs
of its timeline (:mod:`analytics.oee.timeline`) in a stop state (IDLE, DOWN, no state, OFF
in planned time) are one stop, whatever their reasons; shorter than the plant's micro-stop
threshold it is a **small stop** (performance loss), else a **breakdown** (availability
loss). Touching runs of ``SETUP`` are one **setup**. Time outside shifts, in breaks or in
``PLANNED_STOP`` is not planned, so a machine standing there has no stop. A stop carries the
state and the reason it began with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from analytics.oee.accounts import Params, Window
from analytics.oee.timeline import LOSS_NAMES, Timeline, build_timeline
from store.series import MachineData
from telemetry.models import STATE_NAMES
from telemetry.topic import MachinePath

Loss = Literal["small_stop", "breakdown", "setup"]
_KIND = {"small_stop": 1, "breakdown": 1, "setup": 2}
"""Runs of one kind that touch join: stops (small or not: a stop is one or the other as a
whole) and setups."""


@dataclass(frozen=True, slots=True)
class Stop:
    path: MachinePath
    start_ms: int
    end_ms: int
    """Where the machine's next run begins (the last reading, for a stop still open)."""
    state: str
    """The state it began in (``UNKNOWN``: no state sent)."""
    reason: str
    """The reason the machine sent when it began."""
    loss: Loss
    open: bool
    """It reaches the machine's newest reading: it may still go on."""

    @property
    def minutes(self) -> float:
        return (self.end_ms - self.start_ms) / 60_000

    def clipped(self, window: Window) -> Stop:
        """The part inside ``window``."""
        a, b = max(self.start_ms, window.start_ms), min(self.end_ms, window.end_ms)
        return Stop(self.path, a, b, self.state, self.reason, self.loss, self.open)


def of_timeline(timeline: Timeline, path: MachinePath, window: Window) -> list[Stop]:
    """The machine's stops and setups that overlap ``window``, whole, in time order."""
    tl = timeline
    if not len(tl.r_start):
        return []
    kind = np.array([_KIND.get(name, 0) for name in LOSS_NAMES], dtype=np.int8)[tl.r_category]
    joined = (kind[1:] == kind[:-1]) & (kind[1:] > 0) & (tl.r_start[1:] == tl.r_end[:-1])
    first = np.flatnonzero((kind > 0) & ~np.concatenate(([False], joined)))
    last = np.flatnonzero((kind > 0) & ~np.concatenate((joined, [False])))
    starts, ends = tl.r_start[first], tl.r_end[last]
    keep = (ends > window.start_ms) & (starts < window.end_ms)
    names = ("UNKNOWN", *STATE_NAMES)
    n = len(tl.r_start)
    return [
        Stop(path, int(starts[k]), int(ends[k]), names[int(tl.r_state[first[k]]) + 1],
             tl.reasons[int(tl.r_reason[first[k]])],
             LOSS_NAMES[int(tl.r_category[first[k]])],  # type: ignore[arg-type]
             bool(last[k] == n - 1))
        for k in np.flatnonzero(keep).tolist()
    ]  # fmt: skip


def of_readings(
    data: Mapping[MachinePath, MachineData],
    params: Callable[[MachinePath], Params],
    window: Window,
) -> list[Stop]:
    """Every machine's stops and setups that overlap ``window``, from its readings
    (``params``: each machine's, :func:`analytics.oee.accounts.machine_params`), in time
    order."""
    out: list[Stop] = []
    for path, d in data.items():
        tel = d.telemetry
        if tel is None or len(tel.t_ms) < 2:
            continue
        # The stops need no energy: the meter's readings are left out of the timeline.
        out += of_timeline(build_timeline(tel, None, params(path)), path, window)
    return sorted(out, key=lambda s: (s.start_ms, str(s.path)))


def breakdowns(stops: Iterable[Stop], window: Window) -> list[Stop]:
    """The breakdowns that began in ``window`` (what operators are asked to explain)."""
    return [s for s in stops
            if s.loss == "breakdown" and window.start_ms <= s.start_ms < window.end_ms]  # fmt: skip
