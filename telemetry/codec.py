"""Decoding raw MQTT messages into validated readings, and encoding readings."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from telemetry.models import MODEL_BY_CHANNEL, Channel, Reading
from telemetry.topic import DEFAULT_ROOT, Topic, TopicError

DEFAULT_MAX_PAYLOAD_BYTES = 1_048_576
DEFAULT_MAX_READINGS = 10_000


class DecodeError(ValueError):
    """A message that cannot be accepted; ``reason`` says why in words a person can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Message:
    """A validated message: where it comes from and its readings, in payload order."""

    topic: Topic
    readings: tuple[Reading, ...]


_ONE: dict[Channel, TypeAdapter[Any]] = {c: TypeAdapter(m) for c, m in MODEL_BY_CHANNEL.items()}
_MANY: dict[Channel, TypeAdapter[Any]] = {
    c: TypeAdapter(list[m])  # type: ignore[valid-type]
    for c, m in MODEL_BY_CHANNEL.items()
}


def _summarise(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:limit]:
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        value = "" if err["type"] == "missing" else repr(err.get("input"))[:80]
        hint = ""
        if (
            err["loc"]
            and err["loc"][-1] == "ts"
            and err["type"] in ("greater_than_equal", "less_than_equal")
        ):
            hint = ", ts must be UTC epoch milliseconds"
        parts.append(
            f"{loc or 'payload'}: {err['msg']}" + (f" (got {value}{hint})" if value else "")
        )
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"and {more} more error(s)")
    return "; ".join(parts)


def decode(
    topic: str,
    payload: bytes,
    *,
    root: str = DEFAULT_ROOT,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    max_readings: int = DEFAULT_MAX_READINGS,
) -> Message:
    """Validate one MQTT message; raise :class:`DecodeError` with the reason."""
    try:
        parsed = Topic.parse(topic, root)
    except TopicError as exc:
        raise DecodeError(str(exc)) from exc
    if len(payload) > max_payload_bytes:
        raise DecodeError(
            f"payload of {len(payload)} bytes exceeds the limit of {max_payload_bytes} bytes; "
            "send smaller batches"
        )
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"payload is not UTF-8 (byte {exc.start}); send UTF-8 JSON") from exc
    batch = payload.lstrip()[:1] == b"["
    adapter = (_MANY if batch else _ONE)[parsed.channel]
    try:
        value = adapter.validate_json(payload)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            first = exc.errors()[0]
            raise DecodeError(f"payload is not valid JSON: {first['msg']}") from exc
        raise DecodeError(
            f"{parsed.channel.value} payload does not match the wire format: {_summarise(exc)}"
        ) from exc
    readings = tuple(value) if isinstance(value, list) else (value,)
    if not readings:
        raise DecodeError("payload is an empty array; send at least one reading")
    if len(readings) > max_readings:
        raise DecodeError(
            f"payload holds {len(readings)} readings, more than the limit of {max_readings}"
        )
    return Message(parsed, readings)


def encode(readings: Iterable[Reading | Mapping[str, Any]]) -> bytes:
    """Encode readings as a JSON array, leaving out fields that are not set."""
    items = [
        r.model_dump(mode="json", exclude_none=True) if not isinstance(r, Mapping) else r
        for r in readings
    ]
    return json.dumps(items, separators=(",", ":"), allow_nan=False).encode()
