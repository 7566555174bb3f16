import json
from pathlib import Path

from telemetry.schema import json_schema

DOC = Path(__file__).parents[2] / "docs" / "wire-format.schema.json"


def test_committed_schema_is_current() -> None:
    assert json.loads(DOC.read_text()) == json_schema(), (
        "regenerate: python -m telemetry.schema > docs/wire-format.schema.json"
    )


def test_schema_covers_every_channel() -> None:
    assert set(json_schema()["channels"]) == {"telemetry", "energy", "status"}
