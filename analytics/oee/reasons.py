"""Operator downtime reasons: stops that arrived without a reason (or with a generic one)
explained by a person, and the explanation used wherever a reason is used.

Operators explain **breakdowns**: the stops (:mod:`analytics.oee.stops`, the one definition
the machine page and the alerts use too) at least the plant's micro-stop threshold long
(shorter ones are small stops, performance loss, and nobody is asked about them). A stop is
named by its machine and its start.

An explanation (:data:`REASON`) replaces the reason of the stop's readings
when the readings are read for an account (:func:`apply`, called by
:func:`analytics.oee.analysis.analyse`), so the Pareto, the six big losses, the stored period
accounts and the maturity criterion for downtime with a reason all see it. The catalogue's
category moves the stop's time: ``breakdown`` keeps it where it is, ``setup`` makes it setup
time, ``planned_stop`` takes it out of planned busy time. Writing one also writes change
marks over the stop, so the stored accounts of its hours are recomputed by `factory aggregate`
and reports read the raw readings there until then.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from analytics.oee.accounts import Params, Window, machine_params
from analytics.oee.stops import Stop, breakdowns, of_readings
from core.clock import DAY_MS, HOUR_MS
from core.errors import FactoryError
from plant.model import Plant
from store import Reader, Store
from store.base import BUCKET_MS, change_points
from store.series import MachineData
from telemetry.layout import TAGS, FieldDef, Point, Table
from telemetry.models import PLANNED_STOP, SETUP, STATE_CODES, MachineState
from telemetry.topic import MachinePath

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


LOOK_BACK_MS = 7 * DAY_MS
"""Explanations of stops that began this long before a window are still applied to it."""
_CATEGORY_STATE = {"setup": SETUP, "planned_stop": PLANNED_STOP}


class ReasonError(FactoryError, ValueError):
    """An explanation that cannot be taken; the message says why."""


def _code(state: str) -> int | None:
    """The analytics' code of a state name (UNKNOWN: -1); None for no state."""
    if state == "UNKNOWN":
        return -1
    try:
        return STATE_CODES[MachineState(state)]
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Explained:
    path: MachinePath
    start_ms: int
    until_ms: int
    state: str
    original: str
    reason: str
    comment: str
    user: str
    at_ms: int

    def point(self) -> Point:
        tags = {t: getattr(self.path, t) for t in TAGS}
        fields: dict[str, int | float | str | bool | None] = {
            "reason": self.reason, "comment": self.comment, "user": self.user,
            "at_ms": self.at_ms, "state": self.state, "original": self.original,
            "until_ms": self.until_ms,
        }  # fmt: skip
        return Point(REASON, tags, self.start_ms, fields)


async def read_explained(
    reader: Reader, start_ms: int, end_ms: int, path: MachinePath | None = None
) -> list[Explained]:
    """The explanations of stops (of ``path``, or every machine) that began in [start, end)."""
    where = None if path is None else {t: getattr(path, t) for t in TAGS}
    return [
        Explained(
            path=MachinePath(*(r.tags[t] for t in TAGS)),
            start_ms=r.ts_ms,
            until_ms=int(r.fields.get("until_ms", r.ts_ms)),
            state=str(r.fields.get("state")),
            original=str(r.fields.get("original")),
            reason=str(r.fields.get("reason")),
            comment=str(r.fields.get("comment", "")),
            user=str(r.fields.get("user", "")),
            at_ms=int(r.fields.get("at_ms", 0)),
        )
        for r in await reader.read_rows(REASON, start_ms, end_ms, where)
    ]


def apply(
    data: Mapping[MachinePath, MachineData], explained: Sequence[Explained], plant: Plant | None
) -> dict[MachinePath, MachineData]:
    """The readings with each explained stop's reason (and the state its category gives)."""
    out = dict(data)
    for e in explained:
        d = out.get(e.path)
        tel = d.telemetry if d is not None else None
        code = _code(e.state)
        if d is None or tel is None or e.original not in tel.reasons or code is None:
            continue
        mask = (tel.t_ms >= e.start_ms) & (tel.t_ms <= e.until_ms)
        mask &= tel.state == code
        mask &= tel.reason == tel.reasons.index(e.original)
        if not mask.any():
            continue
        reasons = tel.reasons if e.reason in tel.reasons else (*tel.reasons, e.reason)
        reason = tel.reason.copy()
        reason[mask] = reasons.index(e.reason)
        state = tel.state
        entry = plant.reason(e.reason) if plant is not None else None
        if entry is not None and entry.category in _CATEGORY_STATE:
            state = state.copy()
            state[mask] = _CATEGORY_STATE[entry.category]
        new = dataclasses.replace(tel, state=state, reason=reason, reasons=reasons)
        out[e.path] = MachineData(new, d.energy)
    return out


def panel_row(stop: Stop, explained: Explained | None, generic: Sequence[str]) -> dict[str, Any]:
    """A breakdown as the reasons panel lists it: what the machine sent, what an operator
    said, and whether it still needs a reason."""
    return {
        "machine": str(stop.path), "start_ms": stop.start_ms, "end_ms": stop.end_ms,
        "minutes": round(stop.minutes, 1), "state": stop.state,
        "sent_reason": stop.reason,
        "reason": explained.reason if explained else stop.reason,
        "unexplained": explained is None and stop.reason in generic,
        "explained": None if explained is None else {
            "reason": explained.reason, "comment": explained.comment,
            "user": explained.user, "at_ms": explained.at_ms},
    }  # fmt: skip


async def explain(
    store: Store,
    reader: Reader,
    plant: Plant,
    path: MachinePath,
    start_ms: int,
    reason: str,
    comment: str,
    user: str,
    *,
    may_overrule: bool,
    max_gap_s: float = 60.0,
) -> Explained:
    """Store an operator's reason for the stop of ``path`` that begins at ``start_ms``.

    Refused (:class:`ReasonError`) when there is no such stop, the reason is not in the
    catalogue, or someone else explained it and ``may_overrule`` is false."""
    if plant.reason(reason) is None:
        codes = ", ".join(r.code for r in plant.reasons) or "none: add [[reasons]]"
        raise ReasonError(f"{reason!r} is not in the plant's reason catalogue ({codes})")
    if len(comment) > 500:
        raise ReasonError("the comment may be 500 characters at most")
    stop = await _find_stop(reader, path, start_ms, machine_params(plant, max_gap_s)(path))
    earlier = await read_explained(reader, start_ms, start_ms + 1, path)
    if earlier and earlier[0].user != user and not may_overrule:
        raise ReasonError(
            f"{earlier[0].user} explained this stop; only an admin (supervisor) may change it"
        )
    now = int(time.time() * 1000)
    until = stop.end_ms  # the stop as it stands now
    made = Explained(path, start_ms, until, stop.state, stop.reason, reason, comment, user, now)
    buckets = range(start_ms // BUCKET_MS * BUCKET_MS, until + 1, BUCKET_MS)
    marks = change_points(f"reasons-{user}"[:64], [(b, now, 0) for b in buckets])
    await store.write_points([made.point(), *marks])
    return made


async def _find_stop(reader: Reader, path: MachinePath, start_ms: int, params: Params) -> Stop:
    """The breakdown of ``path`` that begins at ``start_ms``, read over growing spans (an
    hour, then four times longer) until it has ended, reaches now or ``LOOK_BACK_MS``: a
    stop of minutes reads an hour of the plant, not a week."""
    span, now = HOUR_MS, int(time.time() * 1000)
    at = Window(start_ms, start_ms + 1)
    while True:
        data = await reader.read(start_ms - HOUR_MS, start_ms + span)
        mine = {path: data[path]} if path in data else {}
        found = breakdowns(of_readings(mine, lambda _p: params, at), at)
        if not found:
            raise ReasonError(f"{path} has no stop that begins at {start_ms}")
        stop = found[0]
        if not stop.open or start_ms + span >= now or span >= LOOK_BACK_MS:
            return stop
        span *= 4
