"""The whole report: OEE with its losses per level and period, energy indicators, the
downtime Pareto, flags, anomaly events and the maturity assessment, as a typed
:class:`analytics.report_model.Report`.

``factory report --format json`` prints exactly its JSON; the table and CSV views and
the dashboard are drawn from it. :func:`compute_report` reads the store and builds it.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import numpy as np
from pydantic import SecretStr

from analytics import energy as en
from analytics.accounts import Kpi, Window, aggregate
from analytics.analysis import Analysis, By, Level, analyse, flags, group, pareto, periods
from analytics.anomaly import Detector
from analytics.config import GRID_FACTOR_VN_2023, AnalyticsConfig
from analytics.maturity import assess, measure
from analytics.report_model import Energy, Report
from store import StoreEndpoint, open_reader
from telemetry.plant import Plant
from telemetry.topic import MachinePath


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")


def _levels(kpis: dict[MachinePath, Kpi]) -> dict[str, Any]:
    out: dict[str, Any] = {"plant": aggregate(kpis.values()).summary() if kpis else None}
    levels: tuple[Level, ...] = ("site", "area", "line")
    for level in levels:
        out[f"{level}s"] = {k: v.summary() for k, v in group(kpis, level).items()}
    out["machines"] = {str(p): k.summary() for p, k in sorted(kpis.items())}
    return out


def energy_section(analysis: Analysis, plant: Plant | None, grid_factor: float) -> Energy:
    window = analysis.window
    edges = en.demand_edges(window)
    n = max(len(edges) - 1, 0)
    blocks: dict[MachinePath, np.ndarray] = {}
    machines: dict[str, Any] = {}
    for path, timeline in sorted(analysis.timelines.items()):
        kpi = analysis.machines[path]
        curve = timeline.energy_curve()
        b = en.block_kwh(*curve, edges) if curve is not None else np.full(n, np.nan)
        blocks[path] = b
        p = en.peak(b, edges)
        machines[str(path)] = {
            "energy_kwh": kpi.energy_kwh,
            "kwh_per_good_unit": kpi.kwh_per_good_unit,
            "kwh_per_unit": kpi.kwh_per_unit,
            "idle_kwh": kpi.idle_kwh if kpi.energy_by_state_kwh else None,
            "idle_share": kpi.idle_share,
            "energy_by_state_kwh": dict(kpi.energy_by_state_kwh),
            "base_load_kw": timeline.base_load_kw(window),
            "peak_15min": None if p is None else p.as_dict(),
            "co2e_kg": en.co2e_kg(kpi.energy_kwh, grid_factor),
        }

    def grouped(level: Level) -> dict[str, Any]:
        out = {}
        members: dict[str, list[np.ndarray]] = {}
        for path, b in blocks.items():
            members.setdefault(path.key(level), []).append(b)
        for key, kpi in group(analysis.machines, level).items():
            p = en.peak(en.group_blocks(members[key], n), edges)
            out[key] = {
                "energy_kwh": kpi.energy_kwh,
                "kwh_per_good_unit": kpi.kwh_per_good_unit,
                "idle_share": kpi.idle_share,
                "peak_15min": None if p is None else p.as_dict(),
                "co2e_kg": en.co2e_kg(kpi.energy_kwh, grid_factor),
            }
        return out

    total = aggregate(analysis.machines.values()) if analysis.machines else None
    plant_peak = en.peak(en.group_blocks(blocks.values(), n), edges)
    main: dict[str, Any] = {}
    for path, data in sorted(analysis.meters.items()):
        if data.energy is None:
            continue
        site_kwh = sum(
            k.energy_kwh or 0.0 for p, k in analysis.machines.items() if p.site == path.site
        )
        main[str(path)] = en.site_energy(data.energy, site_kwh, window, grid_factor)

    # The baseline: energy against production, hour by hour, for the machines together.
    rows = []
    for period in periods(window, "hour", plant):
        kpis = analysis.accounts(period.window)
        if not kpis:
            continue
        hour = aggregate(kpis.values())
        if hour.energy_kwh is not None and hour.no_data_s < 0.5 * period.window.seconds * len(kpis):
            rows.append((period.label, float(hour.total_count), hour.energy_kwh))
    baseline = en.fit_baseline(rows)
    return Energy.model_validate(
        {
            "grid_emission_factor_kg_per_kwh": grid_factor,
            "plant": None
            if total is None
            else {
                "energy_kwh": total.energy_kwh,
                "kwh_per_good_unit": total.kwh_per_good_unit,
                "kwh_per_unit": total.kwh_per_unit,
                "idle_share": total.idle_share,
                "energy_by_state_kwh": dict(total.energy_by_state_kwh),
                "peak_15min": None if plant_peak is None else plant_peak.as_dict(),
                "co2e_kg": en.co2e_kg(total.energy_kwh, grid_factor),
            },
            "main_meters": main,
            "sites": grouped("site"),
            "lines": grouped("line"),
            "machines": machines,
            "baseline": None if baseline is None else baseline.as_dict(),
        }
    )


def build(
    analysis: Analysis,
    *,
    plant: Plant | None = None,
    grid_factor: float = GRID_FACTOR_VN_2023,
    now_ms: int | None = None,
) -> Report:
    """The report of an analysis."""
    w: Window = analysis.window
    total = aggregate(analysis.machines.values()) if analysis.machines else None
    energy = energy_section(analysis, plant, grid_factor)
    breakdowns = {str(p): t.breakdown_starts(w) for p, t in analysis.timelines.items()}
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    values = measure(analysis, plant, energy, now_ms=now, breakdown_starts=breakdowns)
    return Report.model_validate(
        {
            "window": {
                "from": _iso(w.start_ms),
                "to": _iso(w.end_ms),
                "start_ms": w.start_ms,
                "end_ms": w.end_ms,
            },
            "plant_model": None if plant is None else plant.name,
            "micro_stop_threshold_s": plant.micro_stop_threshold_s if plant else 120.0,
            "oee": _levels(analysis.machines),
            "periods": [
                {
                    "period": p.label,
                    "from": _iso(p.window.start_ms),
                    "to": _iso(p.window.end_ms),
                    **_levels(kpis),
                }
                for p, kpis in analysis.periods
            ],
            "pareto": pareto(total.downtime_by_reason_s) if total else [],
            "energy": energy,
            "anomalies": None
            if analysis.events is None
            else {
                "method": "robust z-score of smoothed vibration against the machine's own "
                "normal (docs/analytics.md)",
                "machines_with_sensor": analysis.sensor_machines,
                "events": [e.as_dict() for e in analysis.events],
            },
            "maturity": assess(values),
            "flags": flags(analysis.machines),
        }
    )


async def compute_report(
    endpoint: StoreEndpoint,
    window: Window,
    *,
    token: SecretStr | None = None,
    config: AnalyticsConfig | None = None,
    plant: Plant | None = None,
    by: By | None = None,
    max_gap_s: float | None = None,
    anomalies: bool = True,
    only: dict[str, str | None] | None = None,
) -> tuple[Report, Analysis]:
    """Read the window from the store and build its report; the analysis behind it (its
    machines' timelines) comes along for views that draw from it."""
    cfg = config or AnalyticsConfig()
    analysis = await analyse(
        open_reader(endpoint, token=token),
        window,
        plant=plant,
        by=by,
        max_gap_s=max_gap_s or cfg.max_gap_s,
        detector=Detector(z=cfg.anomaly_z) if anomalies else None,
    )
    if only:
        analysis.narrow(**only)
    return build(analysis, plant=plant, grid_factor=cfg.grid_emission_factor), analysis
