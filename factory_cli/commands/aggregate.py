"""`factory aggregate` (formerly `factory aggregate`, still accepted): the aggregation, and the
services that run beside it on a schedule: the stored forecast and the alert evaluation."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from core.errors import ConfigError
from factory_cli.options import add_command, add_plant, iso_ms, load_plant_or_none
from factory_cli.runtime import READER_STOP_DEADLINE_S, at_least_info, run_until_stopped
from factory_cli.settings import Settings

NAME = "aggregate"


def add_parser(sub: object) -> argparse.ArgumentParser:
    p = add_command(
        sub,
        NAME,
        aliases=("kpi",),
        help="the aggregation: keep the stored period accounts and KPIs current",
        description=(
            "The aggregation: keep the stored accounts of every hour and day current, so that "
            "reports and the dashboard over any window read them instead of every raw "
            "reading: every FACTORY_ANALYTICS__KPI_EVERY_S seconds, read the change marks the "
            "ingest service writes with the readings, recompute the hours they reach (late "
            "data included, however late), compose their days, and write the accounts "
            "('account') and the KPIs per hour, day (and shift, with --period shift) for every "
            "machine, line, area, site and the plant ('kpi', for Grafana). --once does one "
            "pass; --once --from/--to recomputes a window whatever the marks say (a backfill, "
            "e.g. for readings stored before accounts existed). /metrics on "
            "FACTORY_ANALYTICS__METRICS_PORT shows the watermark and the late hours. With a "
            "plant model it also stores the energy forecast every FACTORY_FORECAST__EVERY_S "
            "seconds (measurement 'forecast', see `factory forecast`). Every "
            "FACTORY_ALERTS__EVERY_S seconds it evaluates the alert rules and delivers their "
            "notifications (see `factory alerts`, docs/operations.md). `factory kpi` is the "
            "same command under its former name."
        ),
    )
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--from", dest="start", type=iso_ms, help="with --once: backfill from")
    p.add_argument("--to", dest="end", type=iso_ms, help="with --once: backfill to (default now)")
    p.add_argument(
        "--period",
        choices=("hour", "shift", "day"),
        help="KPI points per shift too with 'shift' (default FACTORY_ANALYTICS__KPI_PERIOD)",
    )
    add_plant(p)
    return p


def run(args: argparse.Namespace, settings: Settings) -> int:
    from analytics import aggregation
    from analytics.aggregation import Aggregator
    from analytics.forecast import stored as forecast
    from analytics.oee.accounts import Window

    if args.period is not None:
        analytics = settings.analytics.model_copy(update={"kpi_period": args.period})
        settings = settings.model_copy(update={"analytics": analytics})
    cfg = settings.analytics
    plant = load_plant_or_none(args.plant or settings.plant)
    if cfg.kpi_period == "shift" and plant is None:
        raise ConfigError("--period shift needs the plant model: --plant FILE or FACTORY_PLANT")
    if args.once:
        aggregator = Aggregator(settings.store_url, token=settings.influx_token, plant=plant,
                                period=cfg.kpi_period, max_gap_s=cfg.max_gap_s,
                                anomaly_z=cfg.anomaly_z)  # fmt: skip
        if args.start is None:
            hours = asyncio.run(aggregator.pass_once())
            print(f"{hours} hour(s) accounted in {settings.store_url} "
                  f"({aggregator.stats.points:,} points)")  # fmt: skip
            return 0
        end = args.end if args.end is not None else int(time.time() * 1000)
        try:
            window = Window(args.start, end)
        except ValueError as exc:
            raise ConfigError(f"--from/--to: {exc}") from None
        hours, written = asyncio.run(aggregator.write(window))
        print(f"{written:,} points for {hours} hour(s) written to {settings.store_url}")
        return 0

    if plant is not None and settings.forecast.every_s > 0:
        from plant.plan import PlanError

        try:  # checked at start, before any service runs
            settings.forecast.plan_for(plant)
        except PlanError as exc:
            raise ConfigError(f"FACTORY_FORECAST__PLAN: {exc}") from None
    at_least_info()
    from alerting import service as alerting
    from plant.model import Plant

    Service = Callable[[asyncio.Event, Settings, Plant | None], Coroutine[Any, Any, None]]
    services: dict[str, Service] = {
        "aggregation": aggregation.run,
        "forecast": forecast.run,
        "alerting": alerting.run,
    }

    async def work(stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as group:
            for name, service in services.items():
                group.create_task(service(stop, settings, plant), name=name)

    run_until_stopped(work, deadline_s=READER_STOP_DEADLINE_S)
    return 0
