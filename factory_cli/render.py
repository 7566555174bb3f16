"""Tables and JSON for KPIs, with the simulator's truth beside them when known."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from analytics.accounts import Kpi, aggregate
from analytics.report_model import (
    Figures,
    GroupEnergy,
    Levels,
    MachineEnergy,
    PlantEnergy,
    Report,
)
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
            **kpis[path].summary(),
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


# ---- The full report (``factory report``), drawn from the report's data -------------------

LOSS_LABELS = {
    "breakdowns": "breakdown",
    "setup": "setup",
    "small_stops": "small",
    "reduced_speed": "speed",
    "startup_rejects": "start rej",
    "production_rejects": "prod rej",
}


def _oee_cells(s: Figures) -> list[str]:
    perf = _pct(s.performance)
    if s.performance_suspect:
        perf = f"[magenta]{perf}![/]"
    return [
        f"[{_colour(s.availability, 0.90, 0.75)}]{_pct(s.availability)}[/]",
        f"[{_colour(s.performance, 0.95, 0.80)}]{perf}[/]",
        f"[{_colour(s.quality, 0.99, 0.95)}]{_pct(s.quality)}[/]",
        f"[{_colour(s.oee, 0.85, 0.60)}]{_pct(s.oee)}[/]",
    ]


def print_report(console: Console, report: Report) -> None:
    """OEE tree (site, line, machine) with losses, energy, Pareto, anomalies, maturity."""
    oee, energy = report.oee, report.energy
    w = report.window
    table = Table(
        title=f"OEE and losses, {w.from_} to {w.to}", title_justify="left", show_lines=False
    )
    for col in ("", "A", "P", "Q", "OEE", *LOSS_LABELS.values(), "good", "kWh/good"):
        table.add_column(col, justify="left" if not col else "right", no_wrap=True)

    def row(label: str, s: Figures, kwh_per_good: float | None, style: str = "") -> None:
        losses = [_num(s.losses_min[k], "{:,.0f}") for k in LOSS_LABELS]
        table.add_row(
            label,
            *_oee_cells(s),
            *losses,
            _num(s.good_count),
            _num(kwh_per_good, "{:.4f}"),
            style=style,
        )

    def intensity(e: GroupEnergy | MachineEnergy | PlantEnergy | None) -> float | None:
        return e.kwh_per_good_unit if e is not None else None

    for site, s in oee.sites.items():
        row(site, s, intensity(energy.sites.get(site)), "bold")
        for line, ls in oee.lines.items():
            if not line.startswith(site + "/"):
                continue
            row(f"  {line.split('/', 1)[1]}", ls, intensity(energy.lines.get(line)), "bold")
            for machine, ms in oee.machines.items():
                if machine.rsplit("/", 1)[0] == line:
                    row(f"    {machine.rsplit('/', 1)[1]}", ms,
                        intensity(energy.machines.get(machine)))  # fmt: skip
        table.add_section()
    if oee.plant is not None and len(oee.sites) > 1:
        row("plant", oee.plant, intensity(energy.plant), "bold")
    console.print(table)
    console.print(
        "[dim]Losses in minutes of planned busy time (ISO 22400-2, six big losses); groups are "
        "sums of machine times and counts, never means of percentages. ! = performance above "
        "100 %: the ideal cycle time is wrong.[/]"
    )

    if report.periods:
        t = Table(title="By period", title_justify="left")
        for col in ("period", "A", "P", "Q", "OEE", "good", "no data min"):
            t.add_column(col, justify="left" if col == "period" else "right")
        for p in report.periods:
            if p.plant is None:
                continue
            t.add_row(p.period, *_oee_cells(p.plant), _num(p.plant.good_count),
                      _num(p.plant.no_data_min))  # fmt: skip
        console.print(t)

    if report.pareto:
        t = Table(title="Downtime by reason (Pareto)", title_justify="left")
        for col in ("reason", "minutes", "share", "cumulative"):
            t.add_column(col, justify="left" if col == "reason" else "right")
        for item in report.pareto[:10]:
            t.add_row(item.reason, f"{item.minutes:,.1f}", _pct(item.share),
                      _pct(item.cumulative_share))  # fmt: skip
        console.print(t)

    pe = energy.plant
    if pe is not None:
        peak = pe.peak_15min
        console.print(
            f"[bold]Energy[/]: {_num(pe.energy_kwh, '{:,.1f}')} kWh by the machines, "
            f"{_num(pe.kwh_per_good_unit, '{:.4f}')} kWh per good unit, "
            f"{_pct(pe.idle_share)} while not running, peak 15-min demand "
            f"{_num(peak.kw if peak else None, '{:,.1f}')} kW, "
            f"{_num(pe.co2e_kg, '{:,.0f}')} kg CO2e "
            f"(grid factor {energy.grid_emission_factor_kg_per_kwh} kg/kWh)."
        )
    for path, m in energy.main_meters.items():
        console.print(
            f"  main meter {path}: {_num(m.energy_kwh, '{:,.1f}')} kWh, of which "
            f"non-production {_num(m.non_production_kwh, '{:,.1f}')} kWh; sub-metered "
            f"{_pct(m.sub_metered_share)}"
        )
    b = energy.baseline
    if b is not None:
        console.print(
            f"  baseline: kWh = {b.intercept_kwh_per_period:.1f} + "
            f"{b.slope_kwh_per_unit:.4f} x units per hour (R² {_num(b.r2, '{:.2f}')}); "
            f"{len(b.deviations)} hour(s) off the baseline; EnPI last quarter "
            f"{_num(b.enpi_last_quarter, '{:.3f}')}"
        )

    cost = energy.cost
    if cost is not None:
        money = f"{{:,.{cost.decimals}f}}"
        console.print(f"[bold]Energy cost[/] ({cost.currency}, time-of-use tariff; share of "
                      "kWh in peak bands in brackets):")  # fmt: skip
        priced = [("all machines", cost.plant)] if cost.plant else []
        priced += [(f"site {k}", v) for k, v in cost.sites.items()]
        priced += [(f"line {k}", v) for k, v in cost.lines.items()]
        for label, c in priced:
            per_unit = "-" if c.cost_per_good_unit is None else money.format(c.cost_per_good_unit)
            if cost.decimals == 0 and c.cost_per_good_unit is not None:
                per_unit = f"{c.cost_per_good_unit:,.1f}"
            console.print(f"  {label}: {money.format(c.cost)} for {c.kwh:,.1f} kWh "
                          f"({_pct(c.peak_share)} at peak), {per_unit} per good unit")  # fmt: skip
        for site, d in cost.demand.items():
            console.print(f"  site {site}: highest demand {d.kw:,.1f} kW, demand charge "
                          f"{money.format(d.charge)}")  # fmt: skip
        idle = cost.idle_at_peak
        console.print(f"  idle energy at peak: {idle.kwh:,.1f} kWh, {money.format(idle.cost)} "
                      "(switching machines off when idle in peak hours saves this)")  # fmt: skip

    an = report.anomalies
    if an is not None:
        console.print(
            f"[bold]Anomalies[/]: {len(an.events)} event(s) on {an.machines_with_sensor} "
            "machine(s) with a vibration sensor"
        )
        for e in an.events[:10]:
            when = datetime.fromtimestamp(e.start_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")
            console.print(f"  {when} UTC {e.machine}: vibration z={e.peak_z}")

    mat = report.maturity
    dims = ", ".join(f"{d} {'-' if v is None else f'{v:.2f}'}" for d, v in mat.dimensions.items())
    console.print(f"[bold]Smart Factory maturity: {mat.label}[/] ({dims})")
    for step in mat.next_steps:
        console.print(f"  next: {step.step} [dim]({step.criterion})[/]")
    for flag in report.flags[:20]:
        console.print(f"[yellow]check[/]: {flag}")


CSV_COLUMNS = (
    "period", "level", "name", "availability", "performance", "quality", "oee",
    "planned_busy_min", "breakdowns_min", "setup_min", "small_stops_min", "reduced_speed_min",
    "startup_rejects_min", "production_rejects_min", "total_count", "good_count",
    "energy_kwh", "kwh_per_good_unit", "no_data_min",
)  # fmt: skip


def report_csv(report: Report) -> str:
    """One row per period (``window`` for the whole), level and name."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)

    def rows(period: str, levels: Levels) -> None:
        items: list[tuple[str, str, Figures | None]] = [("plant", "plant", levels.plant)]
        for level, named in (("site", levels.sites), ("area", levels.areas),
                             ("line", levels.lines), ("machine", levels.machines)):  # fmt: skip
            items += [(level, k, v) for k, v in named.items()]
        for level, name, s in items:
            if s is None:
                continue
            writer.writerow([
                period, level, name, s.availability, s.performance, s.quality,
                s.oee, s.planned_busy_min, *(s.losses_min[k] for k in LOSS_LABELS),
                s.total_count, s.good_count, s.energy_kwh, s.kwh_per_good_unit,
                s.no_data_min,
            ])  # fmt: skip

    rows("window", report.oee)
    for p in report.periods:
        rows(p.period, p)
    return out.getvalue()


def plot_report(report: Report, path: str) -> None:
    """OEE and kWh per good unit over the report's periods, and the loss Pareto, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    periods = [(p.period, p.plant) for p in report.periods if p.plant is not None]
    labels = [label for label, _ in periods]
    fig, axes = plt.subplots(3, 1, figsize=(11, 11), constrained_layout=True)
    ax = axes[0]
    for key, label in (("oee", "OEE"), ("availability", "A"), ("performance", "P"),
                       ("quality", "Q")):  # fmt: skip
        ratios = [getattr(f, key) for _, f in periods]
        values = [r * 100 if r is not None else None for r in ratios]
        ax.plot(labels, values, marker="o", label=label, linewidth=2 if key == "oee" else 1)
    ax.axhline(85, color="green", linestyle=":", label="world class 85 %")
    ax.axhline(60, color="orange", linestyle=":", label="typical 60 %")
    ax.set_ylabel("%")
    ax.set_title(f"OEE, {report.window.from_} to {report.window.to}")
    ax.legend(loc="lower left", ncol=6, fontsize=8)
    ax = axes[1]
    ax.plot(labels, [f.kwh_per_good_unit for _, f in periods], marker="o", color="tab:blue")
    ax.set_ylabel("kWh per good unit")
    ax.set_title("Energy intensity")
    for a in axes[:2]:
        a.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax = axes[2]
    pareto = report.pareto[:12]
    ax.bar([p.reason for p in pareto], [p.minutes for p in pareto], color="tab:red")
    twin = ax.twinx()
    twin.plot([p.reason for p in pareto], [p.cumulative_share * 100 for p in pareto],
              color="black", marker=".")  # fmt: skip
    twin.set_ylim(0, 105)
    twin.set_ylabel("cumulative %")
    ax.set_ylabel("minutes")
    ax.set_title("Downtime by reason (Pareto)")
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.savefig(path, dpi=100)
    plt.close(fig)
