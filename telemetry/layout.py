"""The storage layout, defined once: InfluxDB measurements, tags and fields, SQLite tables.

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

# Computed KPIs, written by `factory kpi` for dashboards: one point per period and
# level. Tags are those of machines plus ``level`` and ``period``; a group has "_all"
# in the tags below its level (a line's point: machine="_all").
KPI = Table(
    "kpi",
    (
        FieldDef("period_end_ms", "int"),
        FieldDef("availability", "float"),
        FieldDef("performance", "float"),
        FieldDef("quality", "float"),
        FieldDef("oee", "float"),
        FieldDef("planned_busy_s", "float"),
        FieldDef("run_s", "float"),
        FieldDef("no_data_s", "float"),
        FieldDef("breakdowns_s", "float"),
        FieldDef("setup_s", "float"),
        FieldDef("small_stops_s", "float"),
        FieldDef("reduced_speed_s", "float"),
        FieldDef("startup_rejects_s", "float"),
        FieldDef("production_rejects_s", "float"),
        FieldDef("total_count", "int"),
        FieldDef("good_count", "int"),
        FieldDef("energy_kwh", "float"),
        FieldDef("kwh_per_good_unit", "float"),
        FieldDef("idle_kwh", "float"),
        # With a tariff in the plant model: the machines' energy priced by time-of-use band
        # (in the tariff's currency; groups: sums of their machines, as energy_kwh), and
        # the kWh drawn in peak bands. Empty without a tariff.
        FieldDef("cost", "float"),
        FieldDef("cost_per_good_unit", "float"),
        FieldDef("peak_kwh", "float"),
    ),
)
KPI_TAGS: tuple[str, ...] = (*TAGS, "level", "period")

# Period accounts (analytics.ledger entries), written by the aggregation (`factory kpi`)
# and read back by reports: one per machine or main meter, period ("hour", "day") and
# period start. ``computed_ms`` is when the readings behind it were read: an account is
# current unless a change mark (below) newer than that touches its period.
ACCOUNT = Table(
    "account",
    (FieldDef("end_ms", "int"), FieldDef("computed_ms", "int"), FieldDef("entry", "str")),
)
ACCOUNT_TAGS: tuple[str, ...] = (*TAGS, "period")

# Energy load forecasts (`factory forecast --save`, `factory kpi`): one point per target and
# 15-minute block (its start). Tags are those of machines plus ``run``: a line's target has
# machine="_all", a site's area, line and machine "_all" (as KPI points), and ``run`` is
# "latest" (the newest forecast of the block) or "day_ahead" (the last one issued before the
# block's local day began: what the accuracy of past forecasts is measured on).
FORECAST = Table(
    "forecast",
    (
        FieldDef("p10_kw", "float"),
        FieldDef("p50_kw", "float"),
        FieldDef("p90_kw", "float"),
        FieldDef("issued_ms", "int"),
    ),
)
FORECAST_TAGS: tuple[str, ...] = (*TAGS, "run")

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


# Alerts (`factory kpi`, `factory alerts`): one point per alert, stamped with when it fired;
# tags ``rule`` (breakdown, silent, oee, ...) and ``subject`` (what it is about: a machine
# or line path, a site, "store"). Rows merge, so an acknowledgement and the evaluator's
# resolution never overwrite each other; ``resolved_ms`` absent: still firing.
ALERT = Table(
    "alert",
    (
        FieldDef("severity", "str"),
        FieldDef("message", "str"),
        FieldDef("value", "float"),
        FieldDef("threshold", "float"),
        FieldDef("resolved_ms", "int"),
        FieldDef("resolved_message", "str"),
        FieldDef("acked_by", "str"),
        FieldDef("acked_ms", "int"),
    ),
    tags=("rule", "subject"),
    merge=True,
)

# Notifications of alerts (the outbox): one point per alert, event and channel, stamped
# with the alert's fired time, so the same notification is never made twice. ``status`` is
# pending (due at ``next_ms``), delivered, failed (every attempt failed: kept, shown, and
# retried by `factory alerts retry`) or suppressed (the rule's rate limit).
NOTICE = Table(
    "notice",
    (
        FieldDef("status", "str"),
        FieldDef("attempts", "int"),
        FieldDef("next_ms", "int"),
        FieldDef("error", "str"),
        FieldDef("done_ms", "int"),
        FieldDef("created_ms", "int"),
    ),
    tags=("channel", "rule", "subject", "event"),
    merge=True,
)

# Operator downtime reasons: one point per explained stop of a machine, stamped with the
# stop's start; the reason replaces the one the machine sent for that stop everywhere.
# The stop is the run of readings from its start to ``until_ms`` (its last reading when
# explained) in state ``state`` with the reason ``original`` the machine sent.
REASON = Table(
    "reason",
    (
        FieldDef("reason", "str"),
        FieldDef("comment", "str"),
        FieldDef("user", "str"),
        FieldDef("at_ms", "int"),
        FieldDef("state", "str"),
        FieldDef("original", "str"),
        FieldDef("until_ms", "int"),
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

_SQL_TYPES: dict[FieldKind, str] = {
    "int": "INTEGER",
    "float": "REAL",
    "str": "TEXT",
    "bool": "INTEGER",
}


def sqlite_added_columns(table: Table, have: set[str]) -> list[str]:
    """ALTER statements for fields of ``table`` that a store made by an older version lacks
    (``have``: its columns); new fields are nullable, so old rows stay valid."""
    return [f"ALTER TABLE {table.name} ADD COLUMN {f.name} {_SQL_TYPES[f.kind]}"
            for f in table.fields if f.name not in have]  # fmt: skip


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
    cols = ", ".join(f"{f.name} {_SQL_TYPES[f.kind]}" for f in KPI.fields)
    statements.append(
        f"CREATE TABLE IF NOT EXISTS {KPI.name} ("
        "site TEXT NOT NULL, area TEXT NOT NULL, line TEXT NOT NULL, machine TEXT NOT NULL, "
        f"level TEXT NOT NULL, period TEXT NOT NULL, ts INTEGER NOT NULL, {cols}, "
        "PRIMARY KEY (site, area, line, machine, level, period, ts)) WITHOUT ROWID"
    )
    statements.append(
        f"CREATE TABLE IF NOT EXISTS {ACCOUNT.name} ("
        "period TEXT NOT NULL, ts INTEGER NOT NULL, site TEXT NOT NULL, area TEXT NOT NULL, "
        "line TEXT NOT NULL, machine TEXT NOT NULL, end_ms INTEGER NOT NULL, "
        "computed_ms INTEGER NOT NULL, entry TEXT NOT NULL, "
        "PRIMARY KEY (period, ts, site, area, line, machine)) WITHOUT ROWID"
    )
    cols = ", ".join(f"{f.name} {_SQL_TYPES[f.kind]}" for f in FORECAST.fields)
    statements.append(
        f"CREATE TABLE IF NOT EXISTS {FORECAST.name} ("
        "site TEXT NOT NULL, area TEXT NOT NULL, line TEXT NOT NULL, machine TEXT NOT NULL, "
        f"run TEXT NOT NULL, ts INTEGER NOT NULL, {cols}, "
        "PRIMARY KEY (run, ts, site, area, line, machine)) WITHOUT ROWID"
    )
    statements.append(
        f"CREATE TABLE IF NOT EXISTS {CHANGES.name} (writer TEXT NOT NULL, "
        "bucket INTEGER NOT NULL, ts INTEGER NOT NULL, readings INTEGER NOT NULL, "
        "PRIMARY KEY (ts, writer, bucket)) WITHOUT ROWID"
    )
    statements.append(
        "CREATE TABLE IF NOT EXISTS sensor ("
        "site TEXT NOT NULL, area TEXT NOT NULL, line TEXT NOT NULL, machine TEXT NOT NULL, "
        "ts INTEGER NOT NULL, name TEXT NOT NULL, value REAL NOT NULL, "
        "PRIMARY KEY (site, area, line, machine, name, ts)) WITHOUT ROWID"
    )
    for table in (ALERT, NOTICE, REASON):
        tags = ", ".join(f"{t} TEXT NOT NULL" for t in table.tags)
        cols = ", ".join(f"{f.name} {_SQL_TYPES[f.kind]}" for f in table.fields)
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {table.name} ({tags}, ts INTEGER NOT NULL, {cols}, "
            f"PRIMARY KEY ({', '.join(table.tags)}, ts)) WITHOUT ROWID"
        )
    cols = ", ".join(
        f"{f.name} {'BLOB' if f.name == 'payload' else _SQL_TYPES[f.kind]} NOT NULL"
        for f in DEADLETTER.fields
    )
    statements.append(
        f"CREATE TABLE IF NOT EXISTS {DEADLETTER.name} (id INTEGER PRIMARY KEY, {cols})"
    )
    return statements
