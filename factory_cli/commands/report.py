"""`factory report`: OEE with its losses, energy, anomalies and maturity, from the store."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from core.errors import ConfigError
from factory_cli.options import (
    add_command,
    add_lang,
    add_plant,
    iso_ms,
    load_plant_or_none,
    positive_float,
    stdout_console,
)
from factory_cli.settings import Settings

NAME = "report"


def add_parser(sub: object) -> argparse.ArgumentParser:
    p = add_command(
        sub,
        NAME,
        help="OEE with its losses, energy, anomalies and maturity from the store",
        description=(
            "Compute OEE after ISO 22400-2 with the six big losses, per site, area, line and "
            "machine (and per shift, day or hour with --by), energy performance indicators, "
            "anomaly events on process sensors and the Smart Factory 3.0-4.0 maturity, from "
            "the stored telemetry. With a plant model (--plant or FACTORY_PLANT) planned time "
            "comes from its shift calendar."
        ),
    )
    p.add_argument("--from", dest="start", type=iso_ms, help="window start (default: 24 h ago)")
    p.add_argument("--to", dest="end", type=iso_ms, help="window end (default: now)")
    add_plant(p)
    p.add_argument("--by", choices=("shift", "day", "hour"), help="also per period")
    for level in ("site", "area", "line", "machine"):
        p.add_argument(f"--{level}", help=f"only this {level}")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    add_lang(p)
    p.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also draw the OEE and energy-intensity trend (per --by period, hourly by "
        "default) and the loss Pareto",
    )
    p.add_argument(
        "--max-gap",
        type=positive_float,
        default=None,
        help="seconds a reading stays valid; longer silences are 'no data' "
        "(default FACTORY_ANALYTICS__MAX_GAP_S, 60)",
    )
    p.add_argument(
        "--no-anomalies", action="store_true", help="skip reading sensors and anomaly detection"
    )
    p.add_argument(
        "--raw",
        action="store_true",
        help="compute everything from raw readings (default: stored hour and day accounts "
        "where current, raw readings for the rest; the same figures, faster)",
    )
    return p


def run(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.oee.accounts import Window
    from analytics.report.build import compute_report
    from core.i18n import lang as language
    from factory_cli.render import print_report, report_csv

    lang = language(args.lang or settings.lang)

    end = args.end if args.end is not None else int(time.time() * 1000)
    start = args.start if args.start is not None else end - 24 * 3600 * 1000
    try:
        window = Window(start, end)
    except ValueError as exc:
        raise ConfigError(f"--from/--to: {exc}") from None
    plant = load_plant_or_none(args.plant or settings.plant)
    if args.by == "shift" and plant is None:
        raise ConfigError("--by shift needs the plant model: --plant FILE or FACTORY_PLANT")
    only = {k: getattr(args, k) for k in ("site", "area", "line", "machine")}
    report, _ = asyncio.run(
        compute_report(
            settings.store_url,
            window,
            token=settings.influx_token,
            config=settings.analytics,
            plant=plant,
            by=args.by or ("hour" if args.plot else None),
            max_gap_s=args.max_gap,
            anomalies=not args.no_anomalies,
            only=only,
            raw=args.raw,
        )
    )
    if not report.oee.machines:
        print(
            f"no telemetry in {settings.store_url} between "
            f"{datetime.fromtimestamp(start / 1000, UTC):%Y-%m-%d %H:%M} and "
            f"{datetime.fromtimestamp(end / 1000, UTC):%Y-%m-%d %H:%M} UTC"
            + (" for the chosen site/area/line/machine" if any(only.values()) else "")
            + "; choose another window with --from/--to",
            file=sys.stderr,
        )
        return 1
    if args.plot:
        from factory_cli.render import plot_report

        try:
            plot_report(report, args.plot)
        except ImportError:
            raise ConfigError(
                "--plot needs matplotlib: pip install 'smart-factory-telemetry[plot]'"
            ) from None
        print(f"plot written to {args.plot}", file=sys.stderr)
    if args.format == "json":
        text = report.to_json()
    elif args.format == "csv":
        text = report_csv(report, lang if lang.code != "en" else None)
    else:
        text = ""
    if args.output:
        if args.format == "table":
            from rich.console import Console

            with open(args.output, "w") as fh:
                print_report(Console(file=fh, width=160, no_color=True), report, lang)
        else:
            Path(args.output).write_text(text)
        print(f"report written to {args.output}", file=sys.stderr)
    elif args.format == "table":
        print_report(stdout_console(width=160), report, lang)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
