"""`factory forecast`: each site's and line's energy load for the next 24 hours."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from core.errors import ConfigError
from factory_cli.options import add_command, add_plant, iso_ms, load_plant_or_none, stdout_console
from factory_cli.settings import Settings

NAME = "forecast"


def add_parser(sub: object) -> argparse.ArgumentParser:
    p = add_command(
        sub,
        NAME,
        help="energy load of each site and line for the next 24 hours, and what to do about it",
        description=(
            "Forecast the 15-minute load of each site (main meter) and line for the next 24 "
            "hours and the rest of the day, with an 80 %% interval, from the metered history "
            "in the store (FACTORY_FORECAST__HISTORY_DAYS, 28), the plant model's shift "
            "calendar and holidays, and a production plan when given. Then: when a site "
            "will approach its contracted maximum demand, and the loads that could leave the "
            "peak hours (FACTORY_FORECAST__PEAK_HOURS). --save stores the forecast for "
            "Grafana and for --accuracy, which compares stored day-ahead forecasts with what "
            "was metered. The model and its measured accuracy: docs/energy-forecast.md."
        ),
    )
    add_plant(p)
    p.add_argument("--plan", metavar="FILE.csv", help="production plan (FACTORY_FORECAST__PLAN)")
    p.add_argument("--at", type=iso_ms, help="forecast from this time (default: now)")
    p.add_argument("--history-days", type=int, help="days of history to learn from (1 to 92)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument("--save", action="store_true", help="store the forecast (measurement forecast)")
    p.add_argument(
        "--accuracy",
        type=int,
        metavar="DAYS",
        help="instead: how the day-ahead forecasts stored for the last DAYS days did",
    )
    return p


def run(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.forecast.model import ForecastError
    from plant.plan import PlanError

    try:
        return _run(args, settings)
    except (ForecastError, PlanError) as exc:
        raise ConfigError(str(exc)) from None


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.forecast.stored import accuracy, forecast_points, make_outlook
    from analytics.oee.accounts import Window
    from core.clock import DAY_MS
    from plant.plan import load_plan
    from store import open_reader, opened

    plant = load_plant_or_none(args.plant or settings.plant)
    if plant is None:
        raise ConfigError(
            "factory forecast needs the plant model (--plant FILE or FACTORY_PLANT): its shift "
            "calendar and holidays drive the forecast"
        )
    if args.history_days is not None and not 1 <= args.history_days <= 92:
        raise ConfigError("--history-days must be between 1 and 92")
    now = int(time.time() * 1000)
    origin = args.at if args.at is not None else now
    cfg = settings.forecast
    gap = settings.analytics.max_gap_s
    reader = open_reader(settings.store_url, token=settings.influx_token)
    if args.accuracy is not None:
        if not 1 <= args.accuracy <= 92:
            raise ConfigError("--accuracy takes 1 to 92 days")
        window = Window(origin - args.accuracy * DAY_MS, origin)
        rows = asyncio.run(accuracy(reader, plant, window, max_gap_s=gap))
        if not rows:
            print(
                f"no stored day-ahead forecast in the last {args.accuracy} days with metered "
                "energy to compare; store forecasts with `factory forecast --save` (or "
                "`factory aggregate`, every FACTORY_FORECAST__EVERY_S) first",
                file=sys.stderr,
            )
            return 1
        _print_accuracy(rows, args.format)
        return 0
    plan_file = args.plan or cfg.plan
    plan = load_plan(plan_file, plant) if plan_file else None
    outlook, _ = asyncio.run(
        make_outlook(
            reader,
            plant,
            origin,
            config=cfg,
            plan=plan,
            history_days=args.history_days,
            max_gap_s=gap,
        )
    )
    if args.save:

        async def save() -> int:
            async with opened(settings.store_url, token=settings.influx_token) as store:
                return await store.write_points(forecast_points(outlook, outlook.origin_ms))

        n = asyncio.run(save())
        print(f"stored {n} forecast points in {settings.store_url}", file=sys.stderr)
    doc = outlook.as_dict(blocks=args.format == "json")
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        _print_table(doc)
    return 0


def _kwh(x: dict[str, Any]) -> str:
    if x["p50"] is None:
        return "-"
    if x["p10"] is None:
        return f"{x['p50']:,.0f}"
    return f"{x['p50']:,.0f} ({x['p10']:,.0f}-{x['p90']:,.0f})"


def _print_table(doc: dict[str, Any]) -> None:
    from rich.table import Table

    console = stdout_console()
    console.print(
        f"[bold]Energy forecast[/] from {doc['origin']} ({doc['timezone']}), learnt from "
        f"{doc['history_days']} days in {doc['train_seconds']} s; 80 % intervals in brackets"
    )
    table = Table("target", "next 24 h, kWh", "rest of today, kWh", "note")
    for t in doc["targets"]:
        table.add_row(f"{t['kind']} {t['name']}", _kwh(t["next_24h_kwh"]),
                      _kwh(t["rest_of_day_kwh"]), t["note"])  # fmt: skip
    console.print(table)
    for d in doc["demand"]:
        line = (
            f"site {d['site']}: peak {d['peak_p50_kw']:,.0f} kW at {d['peak_at']} "
            f"(90th percentile {d['peak_p90_kw']:,.0f} kW)"
        )
        if d["contracted_kw"] is not None:
            line += f"; contracted {d['contracted_kw']:,.0f} kW"
            hot = d["approaching"]
            line += (
                "; approaching it: " + ", ".join(f"{h['from']} to {h['to']}" for h in hot)
                if hot
                else f"; stays below {d['warning_kw']:,.0f} kW"
            )
        console.print(line)
    peak = doc["peak_hours"]
    if doc["flexible"]:
        table = Table(
            "load", "target", "kWh in peak hours", "kW at the site's peak", "what to do",
            title=f"Flexible loads in the peak hours ({', '.join(peak['bands'])}, "
            f"{'/'.join(peak['days'])}) of the next 24 h",
        )  # fmt: skip
        for f in doc["flexible"]:
            kw = "-" if f["kw_at_site_peak"] is None else f"{f['kw_at_site_peak']:,.1f}"
            table.add_row(f["load"], f["target"], f"{f['kwh_in_peak']:,.1f}", kw, f["action"])
        console.print(table)
    else:
        console.print(f"no peak hours in the next 24 h ({', '.join(peak['bands'])})")


def _print_accuracy(rows: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table("target", "blocks", "metered kWh", "forecast kWh", "WAPE", "in 80 % interval",
                  title="Stored day-ahead forecasts against what was metered")  # fmt: skip
    for r in rows:
        table.add_row(f"{r['kind']} {r['name']}", str(r["blocks"]), f"{r['actual_kwh']:,.1f}",
                      f"{r['forecast_kwh']:,.1f}", f"{r['wape']:.1%}",
                      f"{r['coverage_80']:.0%}")  # fmt: skip
    stdout_console().print(table)
