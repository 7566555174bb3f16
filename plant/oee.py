"""The OEE account of a machine or a group over a window: times, counts and energy.

One definition shared by the simulator's ground truth and the analytics, so
that both speak the same words; each fills it by its own computation (the
truth from the event log, the analytics from telemetry). Only sums are kept;
every ratio is derived from them, so that a line or a site is the sum of its
machines, never a mean of percentages (ISO 22400-2):

- planned busy time (PBT) = planned operating time minus planned stops;
- actual production time (APT) = running time plus small stops (stops shorter
  than the micro-stop threshold count as performance loss, not downtime);
- availability = APT / PBT; performance = ideal time of the units made / APT;
  quality = good units / units made; OEE = A x P x Q.

The six big losses, in seconds of planned busy time:

- breakdowns: unplanned stops at least as long as the threshold;
- setup: changeovers and adjustments;
- small stops: unplanned stops shorter than the threshold;
- reduced speed: running time minus the ideal time of the units made;
- start-up rejects and production rejects: ideal time of the rejected units
  made in the start-up after a changeover, and after it.

So ``PBT = breakdowns + setup + small stops + reduced speed + ideal time`` and
``ideal time = good ideal time + start-up rejects + production rejects``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

LOSSES: tuple[str, ...] = (
    "breakdowns",
    "setup",
    "small_stops",
    "reduced_speed",
    "startup_rejects",
    "production_rejects",
)
UNSPECIFIED = "unspecified"
"""The reason given to a stop that reported none."""


def _add_maps(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    out = Counter(a)
    out.update(b)
    return dict(sorted(out.items()))


@dataclass(frozen=True, slots=True, kw_only=True)
class Oee:
    """Sums over a window. ``ideal_s`` is None when units were made without an ideal cycle
    time (performance then cannot be known); ``energy_kwh`` None when there is no meter."""

    planned_busy_s: float = 0.0
    run_s: float = 0.0
    small_stop_s: float = 0.0
    breakdown_s: float = 0.0
    setup_s: float = 0.0
    no_data_s: float = 0.0
    ideal_s: float | None = 0.0
    total_count: int = 0
    good_count: int = 0
    startup_reject_count: int = 0
    startup_reject_s: float = 0.0
    reject_s: float = 0.0
    stops: int = 0
    small_stops: int = 0
    energy_kwh: float | None = None
    energy_by_state_kwh: Mapping[str, float] = field(default_factory=dict)
    downtime_by_reason_s: Mapping[str, float] = field(default_factory=dict)

    @property
    def operating_s(self) -> float:
        return self.run_s + self.small_stop_s

    @property
    def availability(self) -> float | None:
        return self.operating_s / self.planned_busy_s if self.planned_busy_s > 0 else None

    @property
    def performance(self) -> float | None:
        if self.ideal_s is None or self.operating_s <= 0:
            return None
        return self.ideal_s / self.operating_s

    @property
    def quality(self) -> float | None:
        return self.good_count / self.total_count if self.total_count > 0 else None

    @property
    def oee(self) -> float | None:
        a, p, q = self.availability, self.performance, self.quality
        if a is None or p is None or q is None:
            return None
        return a * p * q

    @property
    def performance_suspect(self) -> bool:
        """Performance above 100 %: the ideal cycle time is wrong (reported, never capped)."""
        p = self.performance
        return p is not None and p > 1.0 + 1e-9

    @property
    def losses_s(self) -> dict[str, float | None]:
        reduced = None if self.ideal_s is None else self.run_s - self.ideal_s
        return {
            "breakdowns": self.breakdown_s,
            "setup": self.setup_s,
            "small_stops": self.small_stop_s,
            "reduced_speed": reduced,
            "startup_rejects": self.startup_reject_s,
            "production_rejects": self.reject_s - self.startup_reject_s,
        }

    @property
    def kwh_per_good_unit(self) -> float | None:
        if self.energy_kwh is None or self.good_count <= 0:
            return None
        return self.energy_kwh / self.good_count

    @property
    def kwh_per_unit(self) -> float | None:
        if self.energy_kwh is None or self.total_count <= 0:
            return None
        return self.energy_kwh / self.total_count

    @property
    def idle_kwh(self) -> float:
        """Energy drawn while not running (idle, down, setup, planned stop, off)."""
        return sum(v for k, v in self.energy_by_state_kwh.items() if k != "RUNNING")

    @property
    def idle_share(self) -> float | None:
        """The share of metered energy drawn while not running."""
        metered = sum(self.energy_by_state_kwh.values())
        return self.idle_kwh / metered if metered > 0 else None

    def __add__(self, other: Oee) -> Oee:
        values: dict[str, Any] = {}
        for f in fields(Oee):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name in ("energy_by_state_kwh", "downtime_by_reason_s"):
                values[f.name] = _add_maps(a, b)
            elif f.name == "energy_kwh":
                values[f.name] = None if a is None and b is None else (a or 0.0) + (b or 0.0)
            elif f.name == "ideal_s":
                values[f.name] = None if a is None or b is None else a + b
            else:
                values[f.name] = a + b
        return replace(self, **values)

    def summary(self) -> dict[str, Any]:
        """The figures a person reads: ratios, losses in minutes, counts and energy."""
        losses = self.losses_s
        return {
            "availability": self.availability,
            "performance": self.performance,
            "quality": self.quality,
            "oee": self.oee,
            "performance_suspect": self.performance_suspect,
            "planned_busy_min": self.planned_busy_s / 60,
            "run_min": self.run_s / 60,
            "no_data_min": self.no_data_s / 60,
            "losses_min": {k: None if v is None else v / 60 for k, v in losses.items()},
            "stops": self.stops,
            "small_stops": self.small_stops,
            "downtime_by_reason_min": {k: v / 60 for k, v in self.downtime_by_reason_s.items()},
            "total_count": self.total_count,
            "good_count": self.good_count,
            "startup_reject_count": self.startup_reject_count,
            "energy_kwh": self.energy_kwh,
            "kwh_per_good_unit": self.kwh_per_good_unit,
            "kwh_per_unit": self.kwh_per_unit,
            "idle_kwh": self.idle_kwh if self.energy_by_state_kwh else None,
            "energy_by_state_kwh": dict(self.energy_by_state_kwh),
        }


def total(items: Iterable[Oee]) -> Oee:
    """The sum of several accounts (a line from its machines, a day from its shifts)."""
    out = Oee()
    for item in items:
        out = out + item
    return out
