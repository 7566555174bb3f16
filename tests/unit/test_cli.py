"""The command line: every command parses, and a former name still runs its command."""

from __future__ import annotations

from factory_cli.commands import NAMES
from factory_cli.main import build_parser


def test_the_aggregation_answers_to_its_former_name() -> None:
    parser = build_parser()
    assert parser.parse_args(["kpi", "--once"]).command == "aggregate"
    assert parser.parse_args(["aggregate", "--once"]).command == "aggregate"
    assert "aggregate" in NAMES and "kpi" not in NAMES
