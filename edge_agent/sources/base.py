"""Where readings come from. A source is any object with this small async interface."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

from telemetry.models import Channel
from telemetry.topic import MachinePath

Group = tuple[MachinePath, Channel, list[dict[str, Any]]]
"""Readings of one machine and channel, in ``seq`` order, as wire dictionaries."""


Resume = Mapping[tuple[MachinePath, Channel], tuple[int, int]]
"""Per machine and channel, the last (``seq``, ``ts``) already in the durable buffer."""


class Source(Protocol):
    """Produces readings in groups; the agent buffers and publishes each group in order.

    ``resume`` tells a source that can replay (a simulator, a device with its own
    history) where to carry on after a restart; a live source may ignore it.
    """

    @property
    def machines(self) -> Sequence[MachinePath]: ...

    def batches(self, resume: Resume) -> AsyncIterator[list[Group]]: ...


class SimulatorSource:
    """Readings of a simulated fleet, paced at ``speedup`` times real time (None: no pacing)."""

    def __init__(self, fleet: Any, *, speedup: float | None = None, tick_s: float = 0.25) -> None:
        # ``fleet`` is a simulators.Fleet; the edge agent does not import the simulators.
        self._fleet = fleet
        self._speedup = speedup
        self._tick_s = tick_s

    @property
    def machines(self) -> Sequence[MachinePath]:
        paths: list[MachinePath] = self._fleet.paths
        return paths

    async def batches(self, resume: Resume) -> AsyncIterator[list[Group]]:
        if self._speedup is None:
            chunk_ms = 600_000
        else:
            chunk_ms = max(1, round(self._tick_s * self._speedup * 1000))
        started = time.monotonic()
        start_ms = self._fleet.start_ms
        for window_end, groups in self._fleet.chunks(chunk_ms):
            if self._speedup is not None:
                due = started + (window_end - start_ms) / 1000.0 / self._speedup
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)
            if resume:
                groups = [g for g in (_after(g, resume) for g in groups) if g[2]]
            if groups:
                yield groups


def _after(group: Group, resume: Resume) -> Group:
    """The readings of a group that are not yet buffered (same run: seq and ts both later)."""
    path, channel, readings = group
    mark = resume.get((path, channel))
    if mark is None:
        return group
    seq, ts = mark
    return path, channel, [r for r in readings if not (r["seq"] <= seq and r["ts"] <= ts)]
