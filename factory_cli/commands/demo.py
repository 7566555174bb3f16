"""`factory demo`: a simulated factory through the whole pipeline, KPIs beside the truth."""

from __future__ import annotations

import argparse
import asyncio

from core.errors import ConfigError
from factory_cli.options import add_command, add_fleet, make_fleet, stderr_console, stdout_console
from factory_cli.settings import Settings

NAME = "demo"


def add_parser(sub: object) -> argparse.ArgumentParser:
    p = add_command(
        sub,
        NAME,
        help="run a simulated factory through the whole pipeline and print its KPIs",
        description=(
            "Simulate a fleet, publish it with the edge agent over MQTT (an embedded broker "
            "unless FACTORY_MQTT_URL is set), ingest it into the store (FACTORY_STORE_URL), "
            "and print OEE and energy per machine beside the simulator's ground truth."
        ),
    )
    add_fleet(p)
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument(
        "--duration",
        type=float,
        default=20.0,
        help="wall-clock seconds to play the simulated hours in; 0 = as fast as possible "
        "(default 20)",
    )
    return p


def run(args: argparse.Namespace, settings: Settings) -> int:
    from factory_cli.pipeline import demo
    from factory_cli.render import print_table, to_json

    console = stderr_console()
    fleet = make_fleet(args)
    console.print(
        f"[bold]factory demo[/]: {len(fleet.paths)} machines, {args.hours:g} h simulated, "
        f"seed {args.seed}, {fleet.reading_count:,} readings -> {settings.store_url}"
    )
    result = asyncio.run(demo(settings, fleet, duration_s=args.duration or None, console=console))
    console.print(
        f"published {result.published:,} readings, stored {result.stored:,}, "
        f"rejected {result.rejected} messages, in {result.seconds:.1f} s"
    )
    console.print(
        f"aggregation: {result.accounted_hours} hour accounts computed as readings arrived; "
        "the figures below come "
        f"from {' and '.join(result.sources) or 'nothing'}"
    )
    if result.stored < result.published:
        raise ConfigError(
            f"only {result.stored:,} of {result.published:,} published readings were stored "
            "in time; see the log above for what held them up"
        )
    if args.format == "json":
        print(to_json(result.kpis, result.truth))
    else:
        print_table(
            stdout_console(), result.kpis, result.truth, title="OEE and energy: measured vs truth"
        )
    return 0
