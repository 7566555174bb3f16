"""Entry point of the `factory` command: the parser from the command modules, the exit codes.

Each command lives in :mod:`factory_cli.commands` (its options and its handler); how a
long-running command stops is in :mod:`factory_cli.runtime`. Nothing heavy is imported
until a command runs, so ``factory --help`` works on every role's install.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from core.errors import ConfigError
from factory_cli.commands import NAMES, Command
from factory_cli.options import EPILOG
from factory_cli.runtime import Stopped, setup_logging
from factory_cli.settings import load_settings

EXIT_CONFIG = 2
"""A setting that cannot be used (the message names it)."""
EXIT_CREDENTIALS = 3
"""The broker refused our credentials: retrying cannot help (systemd: no restart)."""


def _commands() -> dict[str, Command]:
    return {name: importlib.import_module(f"factory_cli.commands.{name}") for name in NAMES}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="factory",
        description="Smart-factory telemetry: simulate, collect, store and analyse OEE and energy.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="PATH", help="TOML configuration file")
    parser.add_argument("--version", action="version", version="%(prog)s 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _commands().values():
        command.add_parser(sub)
    return parser


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _known_error(exc: BaseException) -> int | None:
    """Print a known error (looking inside task groups, at any depth); its exit status."""
    # The error base only: it imports nothing, so every role's install has it.
    from core.errors import ClientIdConflict, CredentialsError, FactoryError

    errors = _leaves(exc)
    # Refused credentials first, then configuration errors, then the rest.
    kinds: tuple[tuple[tuple[type[BaseException], ...], int], ...] = (
        ((CredentialsError,), EXIT_CREDENTIALS),
        ((ClientIdConflict,), EXIT_CONFIG),
        ((FactoryError,), 1),
    )
    for types, status in kinds:
        known = next((e for e in errors if isinstance(e, types)), None)
        if known is not None:
            print(f"factory: {known}", file=sys.stderr)
            return status
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        setup_logging(settings)
        status: int = _commands()[args.command].run(args, settings)
        return status
    except ConfigError as exc:
        print(f"factory: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except Stopped as exc:
        # Stopped as asked, but at the deadline: say what was left for the next start.
        print(f"factory: {exc}", file=sys.stderr)
        return 0
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`factory simulate --output - | head`): not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        status_known = _known_error(exc)
        if status_known is None:
            raise
        return status_known


if __name__ == "__main__":
    sys.exit(main())
