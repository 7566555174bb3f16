"""InfluxDB line protocol, with the escaping rules of the specification.

Names reaching here are already validated, but escaping is still applied in
full: the encoder must be safe for any string, not only for the ones the wire
format admits today.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping

from telemetry.codec import Message
from telemetry.errors import WireError
from telemetry.layout import SENSOR_PREFIX, TABLE_BY_CHANNEL, TAGS, FieldKind, Point
from telemetry.models import TelemetryReading

FieldValue = int | float | str | bool

_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ "})
_KEY = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_STRING = str.maketrans({'"': r"\"", "\\": r"\\"})


class LineProtocolError(WireError):
    """A value that line protocol cannot carry."""


def _no_newline(value: str, what: str) -> str:
    if "\n" in value or "\r" in value:
        raise LineProtocolError(f"{what} {value[:64]!r} contains a line break")
    if "\\" in value:
        # A backslash before a space, comma or equals sign is ambiguous in line
        # protocol (escape or literal?); names never need one, so refuse it.
        raise LineProtocolError(f"{what} {value[:64]!r} contains a backslash")
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


def point_line(point: Point) -> str:
    """A computed point (``kpi``) as line protocol; fields without a value are left out."""
    kinds = {f.name: f.kind for f in point.table.fields}
    values = [(k, v, kinds[k]) for k, v in point.fields.items() if v is not None]
    return line(point.table.name, point.tags, values, point.ts_ms)


def _string_field(value: object) -> str:
    text = value.value if isinstance(value, enum.Enum) else str(value)
    if '"' in text or "\\" in text or "\n" in text or "\r" in text:
        return format_value(text, "str")
    return f'"{text}"'


def message_lines(message: Message) -> list[str]:
    """The points of a validated message, one per reading, millisecond precision.

    The hot path of ingest: the measurement and tags are escaped once per message,
    field keys once per table, and values are formatted by their declared kind.
    """
    table = TABLE_BY_CHANNEL[message.topic.channel]
    path = message.topic.path
    prefix = escape_measurement(table.name) + "".join(
        f",{escape_key(k)}={escape_key(getattr(path, k))}" for k in sorted(TAGS)
    )
    keys = [(escape_key(fd.name), fd.name, fd.kind) for fd in table.fields]
    sensor_keys: dict[str, str] = {}
    lines = []
    for reading in message.readings:
        values = reading.__dict__
        parts = []
        for key, name, kind in keys:
            v = values[name]
            if v is None:
                continue
            if kind == "int":
                parts.append(f"{key}={v}i")
            elif kind == "float":
                parts.append(f"{key}={float(v)!r}")
            elif kind == "str":
                parts.append(f"{key}={_string_field(v)}")
            else:
                parts.append(f"{key}={'true' if v else 'false'}")
        if isinstance(reading, TelemetryReading) and reading.sensors:
            for n, v in sorted(reading.sensors.items()):
                if n not in sensor_keys:
                    sensor_keys[n] = escape_key(SENSOR_PREFIX + n)
                # Finite: the wire model refuses NaN and infinities.
                parts.append(f"{sensor_keys[n]}={float(v)!r}")
        lines.append(f"{prefix} {','.join(parts)} {reading.ts}")
    return lines
