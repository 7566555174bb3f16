"""InfluxDB line protocol, with the escaping rules of the specification.

Names reaching here are already validated, but escaping is still applied in
full: the encoder must be safe for any string, not only for the ones the wire
format admits today.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from telemetry.codec import Message
from telemetry.layout import SENSOR_PREFIX, TABLE_BY_CHANNEL, TAGS, FieldKind
from telemetry.models import TelemetryReading

FieldValue = int | float | str | bool

_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ "})
_KEY = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_STRING = str.maketrans({'"': r"\"", "\\": r"\\"})


class LineProtocolError(ValueError):
    """A value that line protocol cannot carry."""


def _no_newline(value: str, what: str) -> str:
    if "\n" in value or "\r" in value:
        raise LineProtocolError(f"{what} {value[:64]!r} contains a line break")
    if value.endswith("\\"):
        raise LineProtocolError(f"{what} {value[:64]!r} ends with a backslash")
    if not value:
        raise LineProtocolError(f"{what} is empty")
    return value


def escape_measurement(name: str) -> str:
    if name.startswith("#"):
        raise LineProtocolError(f"measurement {name[:64]!r} would read as a comment")
    return _no_newline(name, "measurement").translate(_MEASUREMENT)


def escape_key(name: str) -> str:
    """Escape a tag key, tag value or field key."""
    return _no_newline(name, "key").translate(_KEY)


def format_value(value: FieldValue, kind: FieldKind) -> str:
    """Format a field value so that its type never changes between writes."""
    if kind == "bool":
        return "true" if value else "false"
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise LineProtocolError(f"integer field got {value!r}")
        return f"{value}i"
    if kind == "float":
        f = float(value)
        if not math.isfinite(f):
            raise LineProtocolError(f"float field got {value!r}; NaN and infinity are not stored")
        return repr(f)
    text = str(value)
    if "\n" in text or "\r" in text:
        text = text.replace("\r", " ").replace("\n", " ")
    return '"' + text.translate(_STRING) + '"'


def line(
    measurement: str,
    tags: Mapping[str, str],
    fields: Iterable[tuple[str, FieldValue, FieldKind]],
    ts_ms: int,
) -> str:
    """One point. Tags are sorted by key, as InfluxDB recommends for write speed."""
    tag_part = "".join(f",{escape_key(k)}={escape_key(v)}" for k, v in sorted(tags.items()))
    field_part = ",".join(f"{escape_key(k)}={format_value(v, kind)}" for k, v, kind in fields)
    if not field_part:
        raise LineProtocolError("a point needs at least one field")
    return f"{escape_measurement(measurement)}{tag_part} {field_part} {int(ts_ms)}"


def message_lines(message: Message) -> list[str]:
    """The points of a validated message, one per reading, millisecond precision."""
    table = TABLE_BY_CHANNEL[message.topic.channel]
    path = message.topic.path
    tags = {k: getattr(path, k) for k in TAGS}
    lines = []
    for reading in message.readings:
        fields: list[tuple[str, FieldValue, FieldKind]] = []
        for fd in table.fields:
            value = getattr(reading, fd.name)
            if value is not None:
                fields.append((fd.name, value, fd.kind))
        if isinstance(reading, TelemetryReading) and reading.sensors:
            fields.extend(
                (SENSOR_PREFIX + name, v, "float") for name, v in sorted(reading.sensors.items())
            )
        lines.append(line(table.name, tags, fields, reading.ts))
    return lines
