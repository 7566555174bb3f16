"""The whole report: OEE with its losses per level and period, energy indicators, the
downtime Pareto, flags, anomaly events and the maturity assessment, as a typed
:class:`analytics.report.model.Report`.

``factory report --format json`` prints exactly its JSON; the table and CSV views and
the dashboard are drawn from it. :func:`compute_report` reads the store and builds it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import SecretStr

from analytics.config import GRID_FACTOR_VN_2023, AnalyticsConfig
from analytics.energy import indicators as en
from analytics.energy.cost import cost_section, period_costs
from analytics.oee.accounts import Kpi, Window, aggregate
from analytics.oee.analysis import By, Level, analyse, checks, flags, group, pareto, periods
from analytics.oee.anomaly import Detector
from analytics.oee.book import Book, book_of
from analytics.oee.counters import demand_edges
from analytics.oee.ledger import Entry
from analytics.oee.stored import Recent, book_from_store
from analytics.report.maturity import assess, measure
from analytics.report.model import Energy, Report
from core.clock import BLOCK_MS, iso
from plant.model import Plant
from store import StoreEndpoint, open_reader
from telemetry.topic import MachinePath


def _levels(kpis: Mapping[MachinePath, Kpi]) -> dict[str, Any]:
    out: dict[str, Any] = {"plant": aggregate(kpis.values()).summary() if kpis else None}
    levels: tuple[Level, ...] = ("site", "area", "line")
    for level in levels:
        out[f"{level}s"] = {k: v.summary() for k, v in group(kpis, level).items()}
    out["machines"] = {str(p): k.summary() for p, k in sorted(kpis.items())}
    return out


def _block_array(entry: Entry, edges: np.ndarray) -> np.ndarray:
    out = np.full(max(len(edges) - 1, 0), np.nan)
    if len(edges) >= 2:
        for start, kwh in entry.blocks:
            k = (start - int(edges[0])) // BLOCK_MS
            if 0 <= k < len(out):
                out[k] = kwh
    return out


def _baseline_rows(book: Book, plant: Plant | None) -> list[tuple[str, float, float]]:
    """Energy against production, hour by hour, for the machines together."""
    machines = [e for e in book.entries.values() if e.kpi is not None]
    per_hour: dict[int, list[tuple[int, float | None, float]]] = {}
    for e in machines:
        for start, units, kwh, no_data in e.hours:
            per_hour.setdefault(start, []).append((units, kwh, no_data))
    rows = []
    for period in periods(book.window, "hour", plant) if machines else []:
        items = per_hour.get(period.window.start_ms, [])
        seconds = period.window.seconds
        no_data = sum(n for _, _, n in items) + (len(machines) - len(items)) * seconds
        metered = [k for _, k, _ in items if k is not None]
        if metered and no_data < 0.5 * seconds * len(machines):
            rows.append((period.label, float(sum(u for u, _, _ in items)), float(sum(metered))))
    return rows


def energy_section(
    book: Book, kpis: Mapping[MachinePath, Kpi], plant: Plant | None, grid_factor: float
) -> Energy:
    """The energy section; ``kpis``: the book's machine accounts (``book.machines``)."""
    window = book.window
    edges = demand_edges(window)
    n = max(len(edges) - 1, 0)
    blocks: dict[MachinePath, np.ndarray] = {}
    machines: dict[str, Any] = {}
    for path, kpi in sorted(kpis.items()):
        entry = book.entries[path]
        b = _block_array(entry, edges)
        blocks[path] = b
        p = en.peak(b, edges)
        machines[str(path)] = {
            "energy_kwh": kpi.energy_kwh,
            "kwh_per_good_unit": kpi.kwh_per_good_unit,
            "kwh_per_unit": kpi.kwh_per_unit,
            "idle_kwh": kpi.idle_kwh if kpi.energy_by_state_kwh else None,
            "idle_share": kpi.idle_share,
            "energy_by_state_kwh": dict(kpi.energy_by_state_kwh),
            "base_load_kw": entry.base_load_kw,
            "peak_15min": None if p is None else p.as_dict(),
            "co2e_kg": en.co2e_kg(kpi.energy_kwh, grid_factor),
        }

    def grouped(level: Level) -> dict[str, Any]:
        out = {}
        members: dict[str, list[np.ndarray]] = {}
        for path, b in blocks.items():
            members.setdefault(path.key(level), []).append(b)
        for key, kpi in group(kpis, level).items():
            p = en.peak(en.group_blocks(members[key], n), edges)
            out[key] = {
                "energy_kwh": kpi.energy_kwh,
                "kwh_per_good_unit": kpi.kwh_per_good_unit,
                "idle_share": kpi.idle_share,
                "peak_15min": None if p is None else p.as_dict(),
                "co2e_kg": en.co2e_kg(kpi.energy_kwh, grid_factor),
            }
        return out

    total = aggregate(kpis.values()) if kpis else None
    plant_peak = en.peak(en.group_blocks(blocks.values(), n), edges)
    main: dict[str, Any] = {}
    for path, meter in sorted(book.meters.items()):
        site_kwh = sum(k.energy_kwh or 0.0 for p, k in kpis.items() if p.site == path.site)
        total_kwh = meter.meter_kwh if meter.meter_readings >= 2 else None
        peak = en.peak(_block_array(meter, edges), edges)
        main[str(path)] = en.site_energy(total_kwh, peak, site_kwh, grid_factor)
    baseline = en.fit_baseline(_baseline_rows(book, plant))
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
            "cost": cost_section(book, kpis, plant),
        }
    )


def build(
    book: Book,
    *,
    plant: Plant | None = None,
    grid_factor: float = GRID_FACTOR_VN_2023,
    now_ms: int | None = None,
) -> Report:
    """The report of a book."""
    w: Window = book.window
    kpis = book.machines
    total = aggregate(kpis.values()) if kpis else None
    energy = energy_section(book, kpis, plant, grid_factor)
    events = book.events() if book.anomalies else None
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    values = measure(book, plant, energy, now_ms=now, events=events)
    found = flags(kpis)
    return Report.model_validate(
        {
            "window": {
                "from": iso(w.start_ms),
                "to": iso(w.end_ms),
                "start_ms": w.start_ms,
                "end_ms": w.end_ms,
            },
            "plant_model": None if plant is None else plant.name,
            "micro_stop_threshold_s": plant.micro_stop_threshold_s if plant else 120.0,
            "oee": _levels(kpis),
            "periods": [
                {
                    "period": p.label,
                    "from": iso(p.window.start_ms),
                    "to": iso(p.window.end_ms),
                    "cost": cost,
                    **_levels(pk),
                }
                for (p, pk), cost in zip(book.periods, period_costs(book, plant), strict=True)
            ],
            "pareto": pareto(total.downtime_by_reason_s) if total else [],
            "energy": energy,
            "anomalies": None
            if events is None
            else {
                "method": "robust z-score of smoothed vibration against the machine's own "
                "normal (docs/analytics.md)",
                "machines_with_sensor": sum(
                    1 for e in book.entries.values() if e.kpi is not None and e.sensor
                ),
                "events": [e.as_dict() for e in events],
            },
            "maturity": assess(values),
            "flags": found,
            "checks": checks(found),
            "sources": book.sources,
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
    raw: bool = False,
    recent: Recent | None = None,
) -> tuple[Report, Book]:
    """The report of a window: from the stored accounts of its whole days and hours that
    are current (and the ``recent`` hours this process computed before), and raw readings
    for the rest (``raw``: all from raw readings); the book behind it comes along."""
    cfg = config or AnalyticsConfig()
    reader = open_reader(endpoint, token=token)
    gap = max_gap_s or cfg.max_gap_s
    detector = Detector(z=cfg.anomaly_z) if anomalies else None
    if raw:
        book = book_of(
            await analyse(reader, window, plant=plant, by=by, max_gap_s=gap, detector=detector)
        )
    else:
        book = await book_from_store(
            reader, window, plant=plant, by=by, max_gap_s=gap, detector=detector, recent=recent
        )
    if only:
        book.narrow(**only)
    return build(book, plant=plant, grid_factor=cfg.grid_emission_factor), book
