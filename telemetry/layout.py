"""The storage layout of readings, defined once: InfluxDB measurements, tags and fields,
SQLite tables; and :class:`Table`, with which each feature declares the tables of what it
computes next to its code (the aggregation's ``kpi`` and ``account``, the forecast's
``forecast``, alerting's ``alert`` and ``notice``, operators' ``reason``).

The two stores hold the same logical data. Each reading becomes one point (one
row) keyed by its machine and its device timestamp, so a redelivered message
overwrites itself: retries are idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from telemetry.models import Channel

TAGS: tuple[str, ...] = ("site", "area", "line", "machine")
SENSOR_PREFIX = "sensor_"

FieldKind = Literal["int", "float", "str", "bool"]


@dataclass(frozen=True, slots=True)
class FieldDef:
    name: str
    kind: FieldKind
    required: bool = False
    """Every row has a value (SQLite: NOT NULL)."""


@dataclass(frozen=True, slots=True)
class Table:
    """One measurement (InfluxDB) and one table (SQLite) of the same name."""

    name: str
    fields: tuple[FieldDef, ...]
    tags: tuple[str, ...] = ("site", "area", "line", "machine")
    merge: bool = False
    """Writing a row again sets only the fields given (None keeps the stored value), as
    InfluxDB merges the fields of points with equal series and time; otherwise (SQLite)
    the row is replaced."""
    key: tuple[str, ...] = ()
    """SQLite's primary key, in the order its queries need (default: the tags, then ts)."""

    @property
    def primary_key(self) -> tuple[str, ...]:
        return self.key or (*self.tags, "ts")

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def where(self, tags: Mapping[str, str] | None) -> dict[str, str]:
        """A filter on tags of this table (ValueError names a tag it does not have)."""
        out = dict(tags or {})
        unknown = set(out) - set(self.tags)
        if unknown:
            raise ValueError(f"{self.name} has no tag {sorted(unknown)[0]!r}")
        return out


TELEMETRY = Table(
    "telemetry",
    (
        FieldDef("seq", "int"),
        FieldDef("state", "str"),
        FieldDef("reason", "str"),
        FieldDef("total_count", "int"),
        FieldDef("good_count", "int"),
        FieldDef("ideal_cycle_s", "float"),
        FieldDef("product", "str"),
    ),
)
ENERGY = Table(
    "energy",
    (
        FieldDef("seq", "int"),
        FieldDef("power_kw", "float"),
        FieldDef("energy_kwh", "float"),
        FieldDef("power_factor", "float"),
        FieldDef("voltage_v", "float"),
    ),
)
STATUS = Table(
    "status",
    (
        FieldDef("seq", "int"),
        FieldDef("online", "bool"),
        FieldDef("agent", "str"),
        FieldDef("version", "str"),
    ),
)
# Process sensors: in InfluxDB they are float fields "sensor_<name>" of the
# telemetry point; in SQLite a long table (machine, ts, name, value).
SENSOR = Table("sensor", (FieldDef("name", "str"), FieldDef("value", "float")))

# Change marks, written by every store writer with the readings (same transaction, same
# request): readings of the 5 minutes of device time starting at ``bucket`` (epoch ms)
# may be written until the mark's time. Tags ``writer`` and ``bucket``.
CHANGES = Table("changes", (FieldDef("readings", "int"),))
CHANGES_TAGS: tuple[str, ...] = ("writer", "bucket")

# Rejected messages, kept in the store so that every ingest process on every host shares
# one view. A dead letter's id comes from its topic and payload (the same message rejected
# twice is kept once); ``source`` is the client id of the ingest process that kept it. In
# InfluxDB the id is the point's time in microseconds, with no tags (one series, so a
# letter kept again replaces itself), the payload base64 text and the topic and error
# JSON string text (a hostile topic may hold line breaks); in SQLite the payload is a
# BLOB and the id the primary key.
DEADLETTER = Table(
    "deadletter",
    (
        FieldDef("source", "str"),
        FieldDef("stage", "str"),
        FieldDef("topic", "str"),
        FieldDef("payload", "str"),
        FieldDef("payload_bytes", "int"),
        FieldDef("truncated", "bool"),
        FieldDef("error", "str"),
        FieldDef("received_ms", "int"),
    ),
)


@dataclass(frozen=True, slots=True)
class Point:
    """A computed row of a table other than the readings' (``kpi``)."""

    table: Table
    tags: Mapping[str, str]
    ts_ms: int
    fields: Mapping[str, int | float | str | bool | None]
    """None: no value (omitted in InfluxDB, NULL in SQLite)."""


ALL = "_all"

TABLE_BY_CHANNEL: dict[Channel, Table] = {
    Channel.TELEMETRY: TELEMETRY,
    Channel.ENERGY: ENERGY,
    Channel.STATUS: STATUS,
}
