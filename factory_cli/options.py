"""What several commands share on the command line: argument types, the simulated fleet's
options, the plant model and the consoles."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console

    from plant.model import Plant
    from simulators.fleet import Fleet

EPILOG = """\
configuration: environment variables FACTORY_* override the TOML file named by
--config or FACTORY_CONFIG; see deploy/factory.example.toml and docs/configuration.md.
  FACTORY_MQTT_URL    mqtt://[user:pass@]host:port (mqtts:// for TLS)
  FACTORY_STORE_URL   sqlite:///factory-data/telemetry.db or influxdb://host:8086/factory
"""


def add_command(
    sub: Any, name: str, *, help: str, description: str, aliases: tuple[str, ...] = ()
) -> argparse.ArgumentParser:
    """A subcommand with the shared epilog (``aliases``: older names that still work)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        aliases=list(aliases),
        help=help,
        description=description,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(command=name)
    return parser


def iso_ms(text: str) -> int:
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO time, e.g. 2026-01-05T06:00:00Z"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def add_plant(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plant", metavar="FILE", help="plant model (default: FACTORY_PLANT)")


def add_lang(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lang",
        choices=("en", "vi"),
        help="language of the output: en (English) or vi (Vietnamese, with its number "
        "formats: 1.234,5) (default: FACTORY_LANG, en)",
    )


def load_plant_or_none(path: str | None) -> Plant | None:
    """The plant model at ``path`` (None without a path); a bad file is a ConfigError."""
    from plant.model import PlantModelError, load_plant

    if not path:
        return None
    try:
        return load_plant(path)
    except PlantModelError as exc:
        raise ConfigError(str(exc)) from None


def add_fleet(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("simulated fleet")
    g.add_argument(
        "--plant",
        metavar="FILE",
        help="plant model (TOML, e.g. deploy/plants/small.toml): its machines and shift "
        "calendar; --machines and --lines are then ignored",
    )
    g.add_argument("--machines", type=positive_int, default=6, help="machines (default 6)")
    g.add_argument(
        "--line",
        dest="only_line",
        action="append",
        metavar="SITE/AREA/LINE",
        help="only the machines (and main meter) of this line; repeatable (a gateway that "
        "serves some lines of the plant)",
    )
    g.add_argument("--lines", type=positive_int, default=2, help="lines (default 2)")
    g.add_argument(
        "--hours", type=positive_float, default=8.0, help="simulated hours (default 8, one shift)"
    )
    g.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    g.add_argument(
        "--start",
        type=iso_ms,
        default=None,
        help="simulated start, ISO time (default: the whole hour HOURS before now)",
    )
    g.add_argument(
        "--interval",
        type=positive_float,
        default=5.0,
        help="seconds between periodic readings; state changes are sent at once (default 5)",
    )


def make_fleet(args: argparse.Namespace) -> Fleet:
    """The simulated fleet the options of :func:`add_fleet` describe."""
    try:
        from simulators import Fleet, FleetConfig
    except ImportError as exc:
        raise ConfigError(
            f"the simulated fleet needs {exc.name}: pip install 'smart-factory-telemetry[sim]'"
        ) from None

    plant = load_plant_or_none(args.plant)
    start = args.start
    if start is None:
        hour = int(time.time() // 3600 * 3600)
        start = (hour - int(args.hours * 3600)) * 1000
    try:
        fleet = Fleet(
            FleetConfig(
                machines=args.machines,
                lines=min(args.lines, args.machines),
                hours=args.hours,
                seed=args.seed,
                start_ms=start,
                interval_s=args.interval,
            ),
            plant,
        )
        if args.only_line:
            fleet.keep_lines(args.only_line)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return fleet


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def stdout_console(width: int = 110) -> Console:
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=width)
    return console
