"""The SQLite store's tables: those of readings, change marks and dead letters, made when the
store is opened, and those of computed points, made from their feature's declaration
(:class:`telemetry.layout.Table`) when first written, with the fields an older version lacked
added."""

from __future__ import annotations

import sqlite3

from telemetry.layout import (
    CHANGES,
    DEADLETTER,
    ENERGY,
    SENSOR,
    STATUS,
    TELEMETRY,
    FieldKind,
    Table,
)

_SQL_TYPES: dict[FieldKind, str] = {
    "int": "INTEGER",
    "float": "REAL",
    "str": "TEXT",
    "bool": "INTEGER",
}


def ddl() -> list[str]:
    """CREATE statements for the tables of readings, change marks and dead letters
    (idempotent); the tables of computed points are made when first written
    (:func:`table_ddl`)."""
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
        f"CREATE TABLE IF NOT EXISTS {CHANGES.name} (writer TEXT NOT NULL, "
        "bucket INTEGER NOT NULL, ts INTEGER NOT NULL, readings INTEGER NOT NULL, "
        "PRIMARY KEY (ts, writer, bucket)) WITHOUT ROWID"
    )
    statements.append(
        f"CREATE TABLE IF NOT EXISTS {SENSOR.name} ("
        "site TEXT NOT NULL, area TEXT NOT NULL, line TEXT NOT NULL, machine TEXT NOT NULL, "
        "ts INTEGER NOT NULL, name TEXT NOT NULL, value REAL NOT NULL, "
        "PRIMARY KEY (site, area, line, machine, name, ts)) WITHOUT ROWID"
    )
    cols = ", ".join(
        f"{f.name} {'BLOB' if f.name == 'payload' else _SQL_TYPES[f.kind]} NOT NULL"
        for f in DEADLETTER.fields
    )
    statements.append(
        f"CREATE TABLE IF NOT EXISTS {DEADLETTER.name} (id INTEGER PRIMARY KEY, {cols})"
    )
    return statements


def table_ddl(table: Table) -> str:
    """The CREATE statement of a table of computed points, as its feature declares it."""
    tags = ", ".join(f"{t} TEXT NOT NULL" for t in table.tags)
    cols = ", ".join(
        f"{f.name} {_SQL_TYPES[f.kind]}{' NOT NULL' if f.required else ''}" for f in table.fields
    )
    return (
        f"CREATE TABLE IF NOT EXISTS {table.name} ({tags}, ts INTEGER NOT NULL, {cols}, "
        f"PRIMARY KEY ({', '.join(table.primary_key)})) WITHOUT ROWID"
    )


def added_columns(table: Table, have: set[str]) -> list[str]:
    """ALTER statements for fields of ``table`` that a store made by an older version lacks
    (``have``: its columns); new fields are nullable, so old rows stay valid."""
    return [f"ALTER TABLE {table.name} ADD COLUMN {f.name} {_SQL_TYPES[f.kind]}"
            for f in table.fields if f.name not in have]  # fmt: skip


def ensure(conn: sqlite3.Connection, table: Table) -> None:
    """Make ``table`` if the store lacks it, and add the fields an older version lacked."""
    conn.execute(table_ddl(table))
    have = {row[1] for row in conn.execute(f"PRAGMA table_info({table.name})")}
    for statement in added_columns(table, have):
        conn.execute(statement)
