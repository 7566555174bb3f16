"""The storage layout, defined once: InfluxDB measurements, tags and fields, SQLite tables.

The two stores hold the same logical data. Each reading becomes one point (one
row) keyed by its machine and its device timestamp, so a redelivered message
overwrites itself: retries are idempotent.
"""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class Table:
    """One measurement (InfluxDB) and one table (SQLite) of the same name."""

    name: str
    fields: tuple[FieldDef, ...]

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


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

TABLE_BY_CHANNEL: dict[Channel, Table] = {
    Channel.TELEMETRY: TELEMETRY,
    Channel.ENERGY: ENERGY,
    Channel.STATUS: STATUS,
}

_SQL_TYPES: dict[FieldKind, str] = {
    "int": "INTEGER",
    "float": "REAL",
    "str": "TEXT",
    "bool": "INTEGER",
}


def sqlite_ddl() -> list[str]:
    """CREATE statements for the SQLite store (idempotent)."""
    statements = []
    for table in (TELEMETRY, ENERGY, STATUS):
        cols = ", ".join(f"{f.name} {_SQL_TYPES[f.kind]}" for f in table.fields)
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {table.name} ("
            "site TEXT NOT NULL, area TEXT NOT NULL, line TEXT NOT NULL, machine TEXT NOT NULL, "
            f"ts INTEGER NOT NULL, {cols}, "
            "PRIMARY KEY (site, area, line, machine, ts)) WITHOUT ROWID"
        )
    statements.append(
        "CREATE TABLE IF NOT EXISTS sensor ("
        "site TEXT NOT NULL, area TEXT NOT NULL, line TEXT NOT NULL, machine TEXT NOT NULL, "
        "ts INTEGER NOT NULL, name TEXT NOT NULL, value REAL NOT NULL, "
        "PRIMARY KEY (site, area, line, machine, name, ts)) WITHOUT ROWID"
    )
    return statements
