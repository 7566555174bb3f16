"""One module per `factory` command: ``add_parser(sub)`` declares its options, ``run(args,
settings)`` does the work and returns the exit status."""

from __future__ import annotations

import argparse
from typing import Protocol

from factory_cli.settings import Settings


class Command(Protocol):
    NAME: str

    def add_parser(self, sub: object) -> argparse.ArgumentParser: ...

    def run(self, args: argparse.Namespace, settings: Settings) -> int: ...


NAMES = (
    "demo",
    "simulate",
    "edge",
    "ingest",
    "report",
    "forecast",
    "aggregate",
    "alerts",
    "acl",
    "serve",
    "users",
    "deadletter",
)
"""The commands, in the order ``factory --help`` lists them (module ``commands.NAME``)."""
