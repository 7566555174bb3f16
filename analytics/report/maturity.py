"""Smart Factory 3.0-4.0 maturity, measured from telemetry and the plant model.

The rubric is in ``docs/maturity.md``. Each criterion turns one measured value
into a score in [0, 1] by a straight line between the value that scores 0
(``zero``) and the value that scores 1 (``full``); a dimension scores the mean
of its measured criteria. Connectivity is the gate to 3.0 (machines automated,
computerised and connected); above it, the level is 3.0 plus the mean of the
other five dimensions (visibility, transparency, performance, energy management,
predictive capability), so 4.0 means every criterion at its full value. A
criterion that cannot be measured from the data says so and does not count.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from analytics.oee.anomaly import Event
from analytics.report.model import Energy
from core.clock import HOUR_MS
from core.i18n import N_
from plant.model import Plant
from plant.oee import UNSPECIFIED
from plant.oee import total as total_of
from telemetry.topic import MachinePath

if TYPE_CHECKING:
    from analytics.oee.book import Book


@dataclass(frozen=True, slots=True)
class Criterion:
    dimension: str
    key: str
    what: str
    zero: float
    full: float
    source: str
    advice: str

    def score(self, value: float | None) -> float | None:
        if value is None:
            return None
        x = (value - self.zero) / (self.full - self.zero)
        return min(max(x, 0.0), 1.0)


RUBRIC: tuple[Criterion, ...] = (
    Criterion(
        "connectivity",
        "machines_reporting",
        N_("share of the plant model's machines that sent telemetry in the window"),
        0.5,
        1.0,
        N_("acatech stage 2 (connectivity)"),
        N_("connect the machines that send nothing (edge agent: OPC UA or Modbus sources)"),
    ),
    Criterion(
        "connectivity",
        "machines_metered",
        N_("share of reporting machines with their own energy meter"),
        0.0,
        1.0,
        N_("acatech stage 2; ISO 50006 sub-metering"),
        N_("fit an energy meter (Modbus, e.g. SDM630) to each machine without one"),
    ),
    Criterion(
        "visibility",
        "data_completeness",
        N_("share of the window with data, over all machines"),
        0.8,
        0.99,
        N_("acatech stage 3 (visibility: a digital shadow)"),
        N_("find why machines go silent (network, gateway buffer, device) and close the gaps"),
    ),
    Criterion(
        "visibility",
        "freshness_s",
        N_("seconds since the newest reading (windows ending now only)"),
        300.0,
        10.0,
        N_("acatech stage 3 (real-time visibility)"),
        N_("shorten the path from device to store (edge batching, ingest lag)"),
    ),
    Criterion(
        "transparency",
        "downtime_with_reason",
        N_("share of downtime (stops and setups) with a reason code (not a generic one)"),
        0.5,
        0.95,
        N_("acatech stage 4 (transparency: why it happens)"),
        N_("make machines or operators give a reason for every stop"),
    ),
    Criterion(
        "transparency",
        "ideal_cycle_known",
        N_("share of machines whose units all carry an ideal cycle time (speed loss measurable)"),
        0.5,
        1.0,
        N_("ISO 22400-2 performance; six big losses"),
        N_("send the ideal cycle time of the running product with every reading"),
    ),
    Criterion(
        "transparency",
        "energy_by_state",
        N_("share of metered energy attributed to a machine state"),
        0.5,
        0.95,
        N_("ISO 50006 energy by operating state"),
        N_("meter machines that also report their state, on the same clock"),
    ),
    Criterion(
        "performance",
        "oee",
        N_("OEE of the plant (time-weighted)"),
        0.6,
        0.85,
        N_("OEE benchmarks: 60 % typical, 85 % world class (Nakajima)"),
        N_("attack the largest loss of the Pareto (see the six big losses)"),
    ),
    Criterion(
        "energy_management",
        "sub_metered_share",
        N_("share of the main meter's energy measured by machine meters"),
        0.5,
        0.9,
        N_("ISO 50006 energy performance indicators"),
        N_("add a main meter, then sub-meter the largest unmetered loads (compressors, HVAC)"),
    ),
    Criterion(
        "energy_management",
        "baseline_r2",
        N_("how much of hourly energy production explains (R² of the baseline)"),
        0.3,
        0.8,
        N_("ISO 50006 energy baseline"),
        N_("cut base load when idle (switch off at breaks) so energy follows production"),
    ),
    Criterion(
        "predictive",
        "sensor_coverage",
        N_("share of machines with a vibration sensor"),
        0.0,
        0.8,
        N_("acatech stage 5 (predictive capacity)"),
        N_("add vibration and temperature sensors to critical machines"),
    ),
    Criterion(
        "predictive",
        "breakdowns_forewarned",
        N_("share of breakdowns with an anomaly event in the hour before"),
        0.1,
        0.5,
        N_("acatech stage 5 (predictive capacity)"),
        N_("act on anomaly events: plan maintenance before the breakdown"),
    ),
)

DIMENSIONS = ("connectivity", "visibility", "transparency", "performance",
              "energy_management", "predictive")  # fmt: skip


def measure(
    book: Book,
    plant: Plant | None,
    energy: Energy,
    *,
    now_ms: int,
    events: list[Event] | None = None,
) -> dict[str, float | None]:
    """The measured value of every criterion (None: cannot be measured from this data)."""
    entries = [e for e in book.entries.values() if e.kpi is not None]
    kpis = [e.kpi for e in entries if e.kpi is not None]
    total = total_of(kpis) if kpis else None
    expected = len(plant.machines()) if plant else None
    window_s = book.window.seconds
    values: dict[str, float | None] = {}
    values["machines_reporting"] = len(kpis) / expected if expected else (1.0 if kpis else 0.0)
    values["machines_metered"] = (
        sum(k.energy_kwh is not None for k in kpis) / len(kpis) if kpis else None
    )
    values["data_completeness"] = (
        1 - sum(k.no_data_s for k in kpis) / (window_s * len(kpis)) if kpis else None
    )
    newest = max((e.newest_ms for e in entries if e.newest_ms is not None), default=None)
    recent = now_ms - book.window.end_ms < 300_000
    values["freshness_s"] = (now_ms - newest) / 1000 if recent and newest is not None else None
    if total is not None:
        down = total.downtime_by_reason_s
        all_down = sum(down.values())
        generic = set(plant.generic_reasons) if plant is not None else {UNSPECIFIED}
        unexplained = sum(v for r, v in down.items() if r in generic | {UNSPECIFIED})
        values["downtime_with_reason"] = 1 - unexplained / all_down if all_down > 0 else None
        values["ideal_cycle_known"] = sum(k.ideal_s is not None for k in kpis) / len(kpis)
        by_state = sum(v for s, v in total.energy_by_state_kwh.items() if s != "unknown")
        values["energy_by_state"] = (
            min(by_state / total.energy_kwh, 1.0) if total.energy_kwh else None
        )
        values["oee"] = total.oee
    mains = [m for m in energy.main_meters.values() if m.energy_kwh]
    values["sub_metered_share"] = (
        sum(m.machines_kwh for m in mains) / sum(m.energy_kwh or 0.0 for m in mains)
        if mains
        else None
    )
    values["baseline_r2"] = energy.baseline.r2 if energy.baseline else None
    sensors = sum(1 for e in entries if e.sensor) if events is not None else 0
    values["sensor_coverage"] = sensors / len(kpis) if kpis else None
    values["breakdowns_forewarned"] = None
    if events is not None:
        starts = [(e.path, t) for e in entries for t in e.breakdowns]
        if starts:
            # Each machine's event starts, sorted: one search per breakdown.
            by_machine: dict[MachinePath, list[int]] = {}
            for ev in events:
                by_machine.setdefault(ev.path, []).append(ev.start_ms)
            for v in by_machine.values():
                v.sort()
            warned = 0
            for path, t in starts:
                found = by_machine.get(path, [])
                k = bisect.bisect_left(found, t - HOUR_MS)
                warned += k < len(found) and found[k] <= t
            values["breakdowns_forewarned"] = warned / len(starts)
    return values


def assess(values: dict[str, float | None]) -> dict[str, Any]:
    """Scores, the level and the next steps from measured values."""
    criteria: list[dict[str, Any]] = []
    for c in RUBRIC:
        v = values.get(c.key)
        criteria.append({"dimension": c.dimension, "criterion": c.key, "what": c.what,
                         "value": v, "scores_0_at": c.zero, "scores_1_at": c.full,
                         "score": c.score(v), "source": c.source})  # fmt: skip
    dims: dict[str, float | None] = {}
    for d in DIMENSIONS:
        scores = [x["score"] for x in criteria if x["dimension"] == d and x["score"] is not None]
        dims[d] = sum(scores) / len(scores) if scores else None
    gate = dims["connectivity"]
    rest = [dims[d] or 0.0 for d in DIMENSIONS if d != "connectivity"]
    if gate is None or gate < 0.6:
        level: float | None = None
        label = N_("pre-3.0")
    else:
        level = round(3.0 + sum(rest) / len(rest), 2)
        label = f"{level:.1f}"
    # Next steps: the criteria whose full score would raise the level most.
    gains = []
    for c, x in zip(RUBRIC, criteria, strict=True):
        if x["score"] is None:
            continue  # not measurable from this data: no step can be judged by it
        missing = 1.0 - x["score"]
        if missing <= 0:
            continue
        n = sum(1 for k in RUBRIC if k.dimension == c.dimension)
        weight = 1.0 if c.dimension == "connectivity" and label == "pre-3.0" else 1 / (5 * n)
        gains.append((weight * missing, c))
    gains.sort(key=lambda g: -g[0])
    return {
        "level": level,
        "label": label,
        "scale": "3.0 (connected) to 4.0 (transparent, predictive, efficient); below: pre-3.0",
        "dimensions": dims,
        "criteria": criteria,
        "next_steps": [
            {
                "criterion": c.key,
                "dimension": c.dimension,
                "step": c.advice,
                "level_gain": round(g, 3),
            }
            for g, c in gains[:3]
        ],
    }
