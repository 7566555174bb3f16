"""Tables and JSON for KPIs, with the simulator's truth beside them when known."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from analytics.oee.accounts import Kpi, aggregate
from analytics.report.model import (
    Check,
    Figures,
    GroupEnergy,
    Levels,
    MachineEnergy,
    PlantEnergy,
    Report,
)
from core.i18n import ENGLISH, N_, Lang
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


def _pct(v: float | None, lang: Lang = ENGLISH) -> str:
    return lang.pct(v).rjust(6)


def _num(v: float | int | None, digits: int = 0, lang: Lang = ENGLISH) -> str:
    return lang.num(v, digits)


def _colour(v: float | None, good: float, bad: float) -> str:
    if v is None:
        return "dim"
    return "green" if v >= good else ("red" if v < bad else "yellow")


def print_table(
    console: Console,
    kpis: Mapping[MachinePath, Kpi],
    truth: Mapping[MachinePath, Mapping[str, Any]] | None = None,
    title: str | None = None,
    lang: Lang = ENGLISH,
) -> None:
    _ = lang.gettext
    table = Table(title=title or _("OEE and energy per machine"), title_justify="left")
    cols = (_("machine"), "A", "P", "Q", "OEE", _("total"), _("good"), "kWh", _("kWh/good"))
    for i, col in enumerate(cols):
        table.add_column(col, justify="left" if i == 0 else "right", no_wrap=True)
    by_line: dict[tuple[str, str, str], list[Kpi]] = {}
    for path in sorted(kpis):
        by_line.setdefault((path.site, path.area, path.line), []).append(kpis[path])

    def cells(k: Mapping[str, Any], oee_style: str = "") -> list[str]:
        oee = _pct(k["oee"], lang)
        return [
            _pct(k["availability"], lang),
            _pct(k["performance"], lang),
            _pct(k["quality"], lang),
            f"[{oee_style}]{oee}[/]" if oee_style else oee,
            _num(k["total_count"], 0, lang),
            _num(k["good_count"], 0, lang),
            _num(k["energy_kwh"], 1, lang),
            _num(k["kwh_per_good_unit"], 4, lang),
        ]

    def add(label: str, k: Kpi, style: str = "") -> None:
        figures = {key: getattr(k, key) for key in KPI_KEYS}
        table.add_row(label, *cells(figures, _colour(k.oee, 0.85, 0.60)), style=style)

    for (_site, _area, line), items in by_line.items():
        for k in items:
            assert k.path is not None
            add(f"{k.path.line}/{k.path.machine}", k)
            if truth is not None and k.path in truth:
                table.add_row("  " + _("truth"), *cells(truth[k.path]), style="dim")
        add(_("{line} total").format(line=line), aggregate(items), style="bold")
        table.add_section()
    if len(by_line) > 1:
        add(_("all machines"), aggregate(kpis.values()), style="bold")
    sites = sorted({(p.site, p.area) for p in kpis})
    table.caption = ", ".join(f"{s}/{a}" for s, a in sites)
    console.print(table)
    note = _("A, P, Q, OEE after ISO 22400-2; line figures are time-weighted (sums of times "
             "and counts), not means of percentages.")  # fmt: skip
    console.print(f"[dim]{note}[/]")


# ---- The full report (``factory report``), drawn from the report's data -------------------

LOSS_LABELS = {
    "breakdowns": N_("breakdown"),
    "setup": N_("setup"),
    "small_stops": N_("small"),
    "reduced_speed": N_("speed"),
    "startup_rejects": N_("start rej"),
    "production_rejects": N_("prod rej"),
}


def _oee_cells(s: Figures, lang: Lang) -> list[str]:
    perf = _pct(s.performance, lang)
    if s.performance_suspect:
        perf = f"[magenta]{perf}![/]"
    return [
        f"[{_colour(s.availability, 0.90, 0.75)}]{_pct(s.availability, lang)}[/]",
        f"[{_colour(s.performance, 0.95, 0.80)}]{perf}[/]",
        f"[{_colour(s.quality, 0.99, 0.95)}]{_pct(s.quality, lang)}[/]",
        f"[{_colour(s.oee, 0.85, 0.60)}]{_pct(s.oee, lang)}[/]",
    ]


def print_report(console: Console, report: Report, lang: Lang = ENGLISH) -> None:
    """OEE tree (site, line, machine) with losses, energy, Pareto, anomalies, maturity."""
    _ = lang.gettext
    oee, energy = report.oee, report.energy
    w = report.window
    title = _("OEE and losses, {start} to {end}").format(
        start=lang.when(w.start_ms), end=lang.when(w.end_ms)
    )
    table = Table(title=title + " UTC", title_justify="left", show_lines=False)
    losses = [_(x) for x in LOSS_LABELS.values()]
    for i, col in enumerate(("", "A", "P", "Q", "OEE", *losses, _("good"), _("kWh/good"))):
        table.add_column(col, justify="left" if i == 0 else "right", no_wrap=True)

    def row(label: str, s: Figures, kwh_per_good: float | None, style: str = "") -> None:
        losses = [_num(s.losses_min[k], 0, lang) for k in LOSS_LABELS]
        table.add_row(label, *_oee_cells(s, lang), *losses, _num(s.good_count, 0, lang),
                      _num(kwh_per_good, 4, lang), style=style)  # fmt: skip

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
        row(_("plant"), oee.plant, intensity(energy.plant), "bold")
    console.print(table)
    console.print("[dim]" + _(
        "Losses in minutes of planned busy time (ISO 22400-2, six big losses); groups are "
        "sums of machine times and counts, never means of percentages. ! = performance above "
        "100 %: the ideal cycle time is wrong.") + "[/]")  # fmt: skip

    if report.periods:
        t = Table(title=_("By period"), title_justify="left")
        for i, col in enumerate((_("period"), "A", "P", "Q", "OEE", _("good"), _("no data min"))):
            t.add_column(col, justify="left" if i == 0 else "right")
        for p in report.periods:
            if p.plant is None:
                continue
            t.add_row(p.period, *_oee_cells(p.plant, lang), _num(p.plant.good_count, 0, lang),
                      _num(p.plant.no_data_min, 0, lang))  # fmt: skip
        console.print(t)

    if report.pareto:
        t = Table(title=_("Downtime by reason (Pareto)"), title_justify="left")
        for i, col in enumerate((_("reason"), _("minutes"), _("share"), _("cumulative"))):
            t.add_column(col, justify="left" if i == 0 else "right")
        for item in report.pareto[:10]:
            t.add_row(item.reason, _num(item.minutes, 1, lang), _pct(item.share, lang),
                      _pct(item.cumulative_share, lang))  # fmt: skip
        console.print(t)
    _print_energy(console, report, lang)
    an = report.anomalies
    if an is not None:
        console.print("[bold]" + _("Anomalies") + "[/]: " + _(
            "{events} event(s) on {machines} machine(s) with a vibration sensor").format(
            events=len(an.events), machines=an.machines_with_sensor))  # fmt: skip
        for e in an.events[:10]:
            console.print(f"  {lang.when(e.start_ms)} UTC {e.machine}: "
                          + _("vibration z={z}").format(z=lang.num(e.peak_z, 1)))  # fmt: skip

    mat = report.maturity
    dims = ", ".join(f"{_(DIMENSION_NAMES.get(d, d))} {lang.num(v, 2)}"
                     for d, v in mat.dimensions.items())  # fmt: skip
    console.print("[bold]" + _("Smart Factory maturity: {label}").format(label=_(mat.label))
                  + f"[/] ({dims})")  # fmt: skip
    for step in mat.next_steps:
        console.print("  " + _("next") + f": {_(step.step)} [dim]({step.criterion})[/]")
    for check in report.checks[:20]:
        console.print("[yellow]" + _("check") + f"[/]: {checked(check, lang)}")


DIMENSION_NAMES = {
    "connectivity": N_("connectivity"),
    "visibility": N_("visibility"),
    "transparency": N_("transparency"),
    "performance": N_("performance"),
    "energy_management": N_("energy management"),
    "predictive": N_("predictive"),
}


def _print_energy(console: Console, report: Report, lang: Lang) -> None:
    _ = lang.gettext
    energy = report.energy
    pe = energy.plant
    if pe is not None:
        peak = pe.peak_15min
        console.print("[bold]" + _("Energy") + "[/]: " + _(
            "{kwh} kWh by the machines, {intensity} kWh per good unit, {idle} while not "
            "running, peak 15-min demand {kw} kW, {co2} kg CO2e (grid factor {factor} kg/kWh)."
        ).format(kwh=lang.num(pe.energy_kwh, 1), intensity=lang.num(pe.kwh_per_good_unit, 4),
                 idle=lang.pct(pe.idle_share), kw=lang.num(peak.kw if peak else None, 1),
                 co2=lang.num(pe.co2e_kg, 0),
                 factor=lang.num(energy.grid_emission_factor_kg_per_kwh, 3)))  # fmt: skip
    for path, m in energy.main_meters.items():
        console.print("  " + _(
            "main meter {path}: {kwh} kWh, of which non-production {rest} kWh; sub-metered {share}"
        ).format(path=path, kwh=lang.num(m.energy_kwh, 1), rest=lang.num(m.non_production_kwh, 1),
                 share=lang.pct(m.sub_metered_share)))  # fmt: skip
    b = energy.baseline
    if b is not None:
        console.print("  " + _(
            "baseline: kWh = {intercept} + {slope} x units per hour (R² {r2}); {n} hour(s) off "
            "the baseline; EnPI last quarter {enpi}"
        ).format(intercept=lang.num(b.intercept_kwh_per_period, 1),
                 slope=lang.num(b.slope_kwh_per_unit, 4), r2=lang.num(b.r2, 2),
                 n=len(b.deviations), enpi=lang.num(b.enpi_last_quarter, 3)))  # fmt: skip

    cost = energy.cost
    if cost is not None:
        cur = cost.currency

        def money(v: float | None, digits: int | None = None) -> str:
            return lang.money(v, cur, cost.decimals if digits is None else digits)

        console.print("[bold]" + _("Energy cost") + "[/] (" + _(
            "{currency}, time-of-use tariff; share of kWh in peak bands in brackets"
        ).format(currency=cur) + "):")  # fmt: skip
        priced = [(_("all machines"), cost.plant)] if cost.plant else []
        priced += [(_("site {name}").format(name=k), v) for k, v in cost.sites.items()]
        priced += [(_("line {name}").format(name=k), v) for k, v in cost.lines.items()]
        for label, c in priced:
            # A unit's cost in a currency without decimals still needs one (VND 1.2 a unit).
            per_unit = money(c.cost_per_good_unit, max(cost.decimals, 1))
            console.print(f"  {label}: " + _(
                "{cost} for {kwh} kWh ({peak} at peak), {per_unit} per good unit"
            ).format(cost=money(c.cost), kwh=lang.num(c.kwh, 1), peak=lang.pct(c.peak_share),
                     per_unit=per_unit))  # fmt: skip
        for site, d in cost.demand.items():
            console.print("  " + _(
                "site {site}: highest demand {kw} kW, demand charge {charge}"
            ).format(site=site, kw=lang.num(d.kw, 1), charge=money(d.charge)))  # fmt: skip
        idle = cost.idle_at_peak
        saving = _("idle energy at peak: {kwh} kWh, {cost} (switching machines off when idle "
                   "in peak hours saves this)")  # fmt: skip
        console.print("  " + saving.format(kwh=lang.num(idle.kwh, 1), cost=money(idle.cost)))


CSV_COLUMNS = (
    "period", "level", "name", "availability", "performance", "quality", "oee",
    "planned_busy_min", "breakdowns_min", "setup_min", "small_stops_min", "reduced_speed_min",
    "startup_rejects_min", "production_rejects_min", "total_count", "good_count",
    "energy_kwh", "kwh_per_good_unit", "no_data_min",
)  # fmt: skip
CSV_HEADERS = {
    "period": N_("period"), "level": N_("level"), "name": N_("name"),
    "availability": N_("availability"), "performance": N_("performance"),
    "quality": N_("quality"), "oee": N_("OEE"), "planned_busy_min": N_("planned busy min"),
    "breakdowns_min": N_("breakdowns min"), "setup_min": N_("setup min"),
    "small_stops_min": N_("small stops min"), "reduced_speed_min": N_("reduced speed min"),
    "startup_rejects_min": N_("start-up rejects min"),
    "production_rejects_min": N_("production rejects min"), "total_count": N_("total count"),
    "good_count": N_("good count"), "energy_kwh": N_("energy kWh"),
    "kwh_per_good_unit": N_("kWh per good unit"), "no_data_min": N_("no data min"),
}  # fmt: skip
LEVELS = {"plant": N_("plant"), "site": N_("site"), "area": N_("area"), "line": N_("line"),
          "machine": N_("machine"), "window": N_("window")}  # fmt: skip


def report_csv(report: Report, lang: Lang | None = None) -> str:
    """One row per period (``window`` for the whole), level and name.

    Without ``lang`` the header is the stable machine-readable one (``oee``,
    ``breakdowns_min``...); with it, headers and level names are in that language for a
    person with a spreadsheet. Numbers stay plain (a dot, no grouping) either way, so that
    every program reads them.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    word = (lambda k: k) if lang is None else lang.gettext
    if lang is None:
        writer.writerow(CSV_COLUMNS)
    else:
        writer.writerow([word(CSV_HEADERS[c]) for c in CSV_COLUMNS])

    def rows(period: str, levels: Levels) -> None:
        items: list[tuple[str, str, Figures | None]] = [("plant", "plant", levels.plant)]
        for level, named in (("site", levels.sites), ("area", levels.areas),
                             ("line", levels.lines), ("machine", levels.machines)):  # fmt: skip
            items += [(level, k, v) for k, v in named.items()]
        for level, name, s in items:
            if s is None:
                continue
            writer.writerow([
                period, word(LEVELS[level]), word(LEVELS["plant"]) if name == "plant" else name,
                s.availability, s.performance, s.quality,
                s.oee, s.planned_busy_min, *(s.losses_min[k] for k in LOSS_LABELS),
                s.total_count, s.good_count, s.energy_kwh, s.kwh_per_good_unit,
                s.no_data_min,
            ])  # fmt: skip

    rows(word(LEVELS["window"]), report.oee)
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


def checked(check: Check, lang: Lang = ENGLISH) -> str:
    """A check as one line: the finding with where it was found (the first three places of
    many, and how many)."""
    s = check.subjects
    if not s:
        return check.finding
    if len(s) == 1:
        return f"{s[0]}: {check.finding}"
    shown = ", ".join(s[:3]) + (", …" if len(s) > 3 else "")
    return lang.gettext("{n} machines: {finding}").format(n=len(s), finding=check.finding) + (
        f" ({shown})"
    )
