"""Alerts as kept in the store (:data:`ALERT`): what fired, when it resolved,
who acknowledged it; and the transitions from the conditions that hold now.

The rules that produce the conditions are in :mod:`alerting.rules`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from store import Reader, Store
from telemetry.layout import FieldDef, Point, Table

# Alerts (`factory aggregate`, `factory alerts`): one point per alert, stamped with when it fired;
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


SEVERITY = {"breakdown": "critical", "silent": "critical", "demand": "critical"}
"""Severity of each rule; the others are warnings."""


@dataclass(frozen=True, slots=True)
class Condition:
    """A rule that holds now for a subject."""

    rule: str
    subject: str
    message: str
    value: float | None = None
    threshold: float | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    rule: str
    subject: str
    fired_ms: int
    message: str
    severity: str = "warning"
    value: float | None = None
    threshold: float | None = None
    resolved_ms: int | None = None
    resolved_message: str | None = None
    acked_by: str | None = None
    acked_ms: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule, self.subject)

    @property
    def id(self) -> str:
        """How a person or the API names it: ``rule|subject|fired_ms``."""
        return f"{self.rule}|{self.subject}|{self.fired_ms}"

    @property
    def open(self) -> bool:
        return self.resolved_ms is None

    def minutes(self, now_ms: int) -> float:
        end = self.resolved_ms if self.resolved_ms is not None else now_ms
        return round((end - self.fired_ms) / 60_000, 1)

    def as_dict(self, now_ms: int) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "subject": self.subject,
            "severity": self.severity,
            "message": self.message,
            "value": self.value,
            "threshold": self.threshold,
            "fired_ms": self.fired_ms,
            "resolved_ms": self.resolved_ms,
            "resolved_message": self.resolved_message,
            "minutes": self.minutes(now_ms),
            "acked_by": self.acked_by,
            "acked_ms": self.acked_ms,
        }

    def point(self) -> Point:
        fields: dict[str, int | float | str | bool | None] = {
            "severity": self.severity,
            "message": self.message,
            "value": self.value,
            "threshold": self.threshold,
            "resolved_ms": self.resolved_ms,
            "resolved_message": self.resolved_message,
            "acked_by": self.acked_by,
            "acked_ms": self.acked_ms,
        }
        return Point(ALERT, {"rule": self.rule, "subject": self.subject}, self.fired_ms, fields)


def parse_id(alert_id: str) -> tuple[str, str, int]:
    """(rule, subject, fired_ms) of an alert's id; ValueError when it is not one."""
    parts = alert_id.split("|")
    if len(parts) != 3 or not parts[2].isdigit() or len(alert_id) > 300:
        raise ValueError(f"{alert_id[:80]!r} is not an alert id (rule|subject|fired_ms)")
    return parts[0], parts[1], int(parts[2])


async def read_alerts(
    reader: Reader, start_ms: int, end_ms: int, where: Mapping[str, str] | None = None
) -> list[Alert]:
    """The alerts fired in [start, end) (whose tags are ``where``'s), newest first."""
    rows = await reader.read_rows(ALERT, start_ms, end_ms, where)
    out = [
        Alert(
            rule=r.tags["rule"],
            subject=r.tags["subject"],
            fired_ms=r.ts_ms,
            message=str(r.fields.get("message", "")),
            severity=str(r.fields.get("severity", "warning")),
            value=r.fields.get("value"),
            threshold=r.fields.get("threshold"),
            resolved_ms=r.fields.get("resolved_ms"),
            resolved_message=r.fields.get("resolved_message"),
            acked_by=r.fields.get("acked_by"),
            acked_ms=r.fields.get("acked_ms"),
        )
        for r in rows
    ]
    return sorted(out, key=lambda a: -a.fired_ms)


async def acknowledge(store: Store, reader: Reader, alert_id: str, user: str) -> Alert:
    """Mark an alert acknowledged by ``user`` (KeyError when there is no such alert)."""
    rule, subject, fired = parse_id(alert_id)
    tags = {"rule": rule, "subject": subject}
    found = await read_alerts(reader, fired, fired + 1, tags)
    if not found:
        raise KeyError(alert_id)
    now = int(time.time() * 1000)
    ack: dict[str, int | float | str | bool | None] = {"acked_by": user, "acked_ms": now}
    await store.write_points([Point(ALERT, tags, fired, ack)])  # merged: only these fields
    return replace(found[0], acked_by=user, acked_ms=now)


def transitions(
    open_alerts: Sequence[Alert], conditions: Sequence[Condition], rules: set[str], now_ms: int
) -> tuple[list[Alert], list[Alert], list[Alert]]:
    """(fired, resolved, changed): new alerts for conditions without an open one, open
    alerts of evaluated rules whose condition is gone, open alerts whose figures moved."""
    holding: Mapping[tuple[str, str], Condition] = {(c.rule, c.subject): c for c in conditions}
    by_key = {a.key: a for a in open_alerts}
    fired = [
        Alert(
            c.rule,
            c.subject,
            now_ms,
            c.message,
            SEVERITY.get(c.rule, "warning"),
            c.value,
            c.threshold,
        )
        for key, c in holding.items()
        if key not in by_key
    ]
    resolved, changed = [], []
    for key, a in by_key.items():
        c = holding.get(key)
        if c is None and a.rule in rules:
            resolved.append(replace(a, resolved_ms=now_ms, resolved_message="condition cleared"))
        elif c is not None and (c.value, c.message) != (a.value, a.message):
            changed.append(replace(a, value=c.value, message=c.message))
    return fired, resolved, changed
