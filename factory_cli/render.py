"""Tables and JSON for KPIs, with the simulator's truth beside them when known."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from analytics.kpi import Kpi, aggregate
from telemetry.topic import MachinePath

KPI_KEYS = (
    "availability",
    "performance",
    "quality",
    "oee",
    "total_count",
    "good_count",
    "energy_kwh",
    "kwh_per_good_unit",
)


def machine_rows(
    kpis: Mapping[MachinePath, Kpi], truth: Mapping[MachinePath, Mapping[str, Any]] | None = None
) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(kpis):
        row: dict[str, Any] = {
            "site": path.site,
            "area": path.area,
            "line": path.line,
            "machine": path.machine,
            **kpis[path].as_dict(),
        }
        if truth is not None and path in truth:
            row["truth"] = {k: truth[path][k] for k in KPI_KEYS}
        rows.append(row)
    return rows


def to_json(
    kpis: Mapping[MachinePath, Kpi],
    truth: Mapping[MachinePath, Mapping[str, Any]] | None = None,
    **extra: Any,
) -> str:
    return json.dumps({"machines": machine_rows(kpis, truth), **extra}, indent=2)


def _pct(v: float | None) -> str:
    return "no data" if v is None else f"{v * 100:5.1f}%"


def _num(v: float | int | None, fmt: str = "{:,.0f}") -> str:
    return "-" if v is None else fmt.format(v)


def _colour(v: float | None, good: float, bad: float) -> str:
    if v is None:
        return "dim"
    return "green" if v >= good else ("red" if v < bad else "yellow")


def print_table(
    console: Console,
    kpis: Mapping[MachinePath, Kpi],
    truth: Mapping[MachinePath, Mapping[str, Any]] | None = None,
    title: str = "OEE and energy per machine",
) -> None:
    table = Table(title=title, title_justify="left")
    for col in ("machine", "A", "P", "Q", "OEE", "total", "good", "kWh", "kWh/good"):
        table.add_column(col, justify="left" if col == "machine" else "right", no_wrap=True)
    by_line: dict[tuple[str, str, str], list[Kpi]] = {}
    for path in sorted(kpis):
        by_line.setdefault((path.site, path.area, path.line), []).append(kpis[path])

    def add(label: str, k: Kpi, style: str = "") -> None:
        oee = k.oee
        table.add_row(
            label,
            _pct(k.availability),
            _pct(k.performance),
            _pct(k.quality),
            f"[{_colour(oee, 0.85, 0.60)}]{_pct(oee)}[/]",
            _num(k.total_count),
            _num(k.good_count),
            _num(k.energy_kwh, "{:,.1f}"),
            _num(k.kwh_per_good_unit, "{:.4f}"),
            style=style,
        )

    def add_truth(t: Mapping[str, Any]) -> None:
        table.add_row(
            "  truth",
            _pct(t["availability"]),
            _pct(t["performance"]),
            _pct(t["quality"]),
            _pct(t["oee"]),
            _num(t["total_count"]),
            _num(t["good_count"]),
            _num(t["energy_kwh"], "{:,.1f}"),
            _num(t["kwh_per_good_unit"], "{:.4f}"),
            style="dim",
        )

    for (_site, _area, line), items in by_line.items():
        for k in items:
            assert k.path is not None
            add(f"{k.path.line}/{k.path.machine}", k)
            if truth is not None and k.path in truth:
                add_truth(truth[k.path])
        add(f"{line} total", aggregate(items), style="bold")
        table.add_section()
    if len(by_line) > 1:
        add("all machines", aggregate(kpis.values()), style="bold")
    sites = sorted({(p.site, p.area) for p in kpis})
    table.caption = ", ".join(f"{s}/{a}" for s, a in sites)
    console.print(table)
    console.print(
        "[dim]A, P, Q, OEE after ISO 22400-2; line figures are time-weighted "
        "(sums of times and counts), not means of percentages.[/]"
    )
