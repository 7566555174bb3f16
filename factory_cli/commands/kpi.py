"""`factory kpi`: the accounts of every period written to the store, on a schedule."""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

from factory_cli.options import add_command, add_plant, iso_ms, load_plant_or_none
from factory_cli.runtime import READER_STOP_DEADLINE_S, at_least_info, run_until_stopped
from factory_cli.settings import ConfigError, Settings

NAME = "kpi"


def add_parser(sub: object) -> argparse.ArgumentParser:
    p = add_command(
        sub,
        NAME,
        help="write computed KPIs to the store (table/measurement 'kpi') on a schedule",
        description=(
            "Compute OEE, its losses and energy per period (hour, shift or day) for every "
            "machine, line, area, site and the plant, and write them to the store as the "
            "'kpi' table (SQLite) or measurement (InfluxDB), so that dashboards chart them "
            "without recomputing. Runs every FACTORY_ANALYTICS__KPI_EVERY_S seconds, each time "
            "recomputing the current and the previous period (late data is taken in); "
            "--once does one pass, --from/--to backfills."
        ),
    )
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--from", dest="start", type=iso_ms, help="with --once: backfill from")
    p.add_argument("--to", dest="end", type=iso_ms, help="with --once: backfill to (default now)")
    p.add_argument(
        "--period", choices=("hour", "shift", "day"), help="default FACTORY_ANALYTICS__KPI_PERIOD"
    )
    add_plant(p)
    return p


def run(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.accounts import Window
    from analytics.writeback import KpiWriter

    period = args.period or settings.analytics.kpi_period
    plant = load_plant_or_none(args.plant or settings.plant)
    if period == "shift" and plant is None:
        raise ConfigError("--period shift needs the plant model: --plant FILE or FACTORY_PLANT")
    writer = KpiWriter(
        settings.store_url,
        token=settings.influx_token,
        plant=plant,
        period=period,
        max_gap_s=settings.analytics.max_gap_s,
    )
    if args.once:
        end = args.end if args.end is not None else int(time.time() * 1000)
        try:
            window = Window(args.start, end) if args.start is not None else writer.recent(end)
        except ValueError as exc:
            raise ConfigError(f"--from/--to: {exc}") from None
        n, written = asyncio.run(writer.write(window))
        print(f"{written:,} KPI points for {n} {period} period(s) written to {settings.store_url}")
        return 0

    at_least_info()
    logging.getLogger("factory.kpi").info(
        "writing %s KPIs to %s every %.0f s", period, settings.store_url,
        settings.analytics.kpi_every_s,
    )  # fmt: skip
    run_until_stopped(
        lambda stop: writer.run_schedule(stop, every_s=settings.analytics.kpi_every_s),
        deadline_s=READER_STOP_DEADLINE_S,
    )
    return 0
