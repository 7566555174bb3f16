"""`factory kpi`: the accounts of every period written to the store, on a schedule."""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

from core.errors import ConfigError
from factory_cli.options import add_command, add_plant, iso_ms, load_plant_or_none
from factory_cli.runtime import READER_STOP_DEADLINE_S, at_least_info, run_until_stopped
from factory_cli.settings import Settings

NAME = "kpi"


def add_parser(sub: object) -> argparse.ArgumentParser:
    p = add_command(
        sub,
        NAME,
        help="keep the stored period accounts and KPIs current (the aggregation)",
        description=(
            "Keep the stored accounts of every hour and day current, so that reports and "
            "the dashboard over any window read them instead of every raw reading: every "
            "FACTORY_ANALYTICS__KPI_EVERY_S seconds, read the change marks the ingest "
            "service writes with the readings, recompute the hours they reach (late data "
            "included, however late), compose their days, and write the accounts ('account') "
            "and the KPIs per hour, day (and shift, with --period shift) for every machine, "
            "line, area, site and the plant ('kpi', for Grafana). --once does one pass; "
            "--once --from/--to recomputes a window whatever the marks say (a backfill, e.g. "
            "for readings stored before accounts existed). /metrics on "
            "FACTORY_ANALYTICS__METRICS_PORT shows the watermark and the late hours. With a "
            "plant model it also stores the energy forecast every FACTORY_FORECAST__EVERY_S "
            "seconds (measurement 'forecast', see `factory forecast`). Every "
            "FACTORY_ALERTS__EVERY_S seconds it evaluates the alert rules and delivers their "
            "notifications (see `factory alerts`, docs/operations.md)."
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
    from analytics.aggregation import Aggregator
    from analytics.oee.accounts import Window

    period = args.period or settings.analytics.kpi_period
    plant = load_plant_or_none(args.plant or settings.plant)
    if period == "shift" and plant is None:
        raise ConfigError("--period shift needs the plant model: --plant FILE or FACTORY_PLANT")
    cfg = settings.analytics
    aggregator = Aggregator(
        settings.store_url,
        token=settings.influx_token,
        plant=plant,
        period=period,
        max_gap_s=cfg.max_gap_s,
        anomaly_z=cfg.anomaly_z,
    )
    if args.once:
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

    at_least_info()
    logging.getLogger("factory.kpi").info(
        "keeping the accounts of %s current every %.0f s", settings.store_url, cfg.kpi_every_s
    )
    metrics = None
    if cfg.metrics_port is not None:
        from core.metrics import MetricsServer

        token = cfg.metrics_token.get_secret_value() if cfg.metrics_token else None
        metrics = MetricsServer(host=cfg.metrics_host, port=cfg.metrics_port,
                                samples=aggregator.stats.samples, token=token)  # fmt: skip

    forecasting = plant is not None and settings.forecast.every_s > 0
    fc = settings.forecast
    plan = None
    if forecasting:
        from plant.plan import PlanError

        assert plant is not None
        try:
            plan = fc.plan_for(plant)
        except PlanError as exc:
            raise ConfigError(f"FACTORY_FORECAST__PLAN: {exc}") from None

    async def forecasts(stop: asyncio.Event) -> None:
        from analytics.forecast.stored import forecast_schedule
        from store import open_reader, opened

        assert plant is not None
        async with opened(settings.store_url, token=settings.influx_token) as store:
            reader = open_reader(settings.store_url, token=settings.influx_token)
            await forecast_schedule(stop, store, reader, plant, config=fc, plan=plan,
                                    max_gap_s=cfg.max_gap_s)  # fmt: skip

    async def alerting(stop: asyncio.Event) -> None:
        from alerting.service import run_alerts

        await run_alerts(stop, settings, plant)

    async def work(stop: asyncio.Event) -> None:
        if metrics is not None:
            await metrics.start()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(aggregator.run_schedule(stop, every_s=cfg.kpi_every_s))
                if forecasting:
                    group.create_task(forecasts(stop))
                if settings.alerts.every_s > 0:
                    group.create_task(alerting(stop))
        finally:
            if metrics is not None:
                await metrics.stop()

    run_until_stopped(work, deadline_s=READER_STOP_DEADLINE_S)
    return 0
