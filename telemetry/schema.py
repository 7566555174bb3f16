"""JSON Schema of the wire format, generated from the pydantic models.

``python -m telemetry.schema`` prints it; ``docs/wire-format.schema.json`` holds the
committed copy, and a test keeps the two equal.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from telemetry.models import MODEL_BY_CHANNEL


def json_schema() -> dict[str, Any]:
    """One schema per channel: a reading object, or an array of them."""
    channels = {}
    for channel, model in MODEL_BY_CHANNEL.items():
        schema = TypeAdapter(model | list[model]).json_schema()  # type: ignore[valid-type, arg-type]
        schema["title"] = f"{channel.value} payload"
        channels[channel.value] = schema
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Smart-factory telemetry wire format v1",
        "description": (
            "Payload of topic {root}/v1/{site}/{area}/{line}/{machine}/{channel}, "
            "UTF-8 JSON: one reading object or an array of them."
        ),
        "channels": channels,
    }


def main() -> None:
    print(json.dumps(json_schema(), indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
