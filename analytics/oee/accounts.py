"""What an account is about: a window of time, how a machine's readings are read, and the
account itself (:class:`Kpi`, an :class:`plant.oee.Oee` with its machine and window).

Accounts add up: a line's is the sum of its machines', a day's the sum of its hours'
(:func:`aggregate`); ratios are computed from the sums, never averaged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from plant.model import Calendar, Plant
from plant.oee import Oee, total
from telemetry.topic import MachinePath


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


def aggregate(kpis: Iterable[Oee], path: MachinePath | None = None) -> Kpi:
    """A group's account: sums of times, counts and energy, never a mean of ratios."""
    items: Sequence[Oee] = list(kpis)
    if not items:
        raise ValueError("nothing to aggregate")
    window = items[0].window if isinstance(items[0], Kpi) else None
    summed = total(items)
    return Kpi(path=path, window=window, **{f: getattr(summed, f) for f in _OEE_FIELDS})


_OEE_FIELDS = tuple(Oee.__dataclass_fields__)


def machine_params(plant: Plant | None, max_gap_s: float) -> Callable[[MachinePath], Params]:
    """The reading parameters of each machine: from the plant model where it knows it."""
    if plant is None:
        default = Params(max_gap_s=max_gap_s)
        return lambda _path: default
    base = Params(
        max_gap_s=max_gap_s,
        micro_stop_threshold_s=plant.micro_stop_threshold_s,
        calendar=plant.calendar,
    )
    per = {
        path: Params(
            max_gap_s=max_gap_s,
            micro_stop_threshold_s=plant.micro_stop_threshold_s,
            startup_units=m.startup_units,
            calendar=plant.calendar,
            rollover_kwh=m.meter_rollover_kwh,
        )
        for path, m in plant.machines()
    }
    return lambda path: per.get(path, base)
