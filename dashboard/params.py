"""The parameters of the dashboard's API: times, machines and the level filters, refused
with a reason a person can act on (:class:`BadRequest`, a 400)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from core.errors import FactoryError
from telemetry.models import MAX_TS_MS, MIN_TS_MS, NAME_PATTERN
from telemetry.topic import MachinePath, TopicError

BY = ("shift", "day", "hour")
LEVELS = ("site", "area", "line", "machine")


class BadRequest(FactoryError, ValueError):
    """A parameter that cannot be used; the message says which and why."""


def parse_time(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    if re.fullmatch(r"-?[0-9]{1,16}", value):  # ASCII digits only ("¹".isdigit() is True)
        ms = int(value)
    else:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            raise BadRequest(
                f"{name}: {value!r} is not an ISO time or epoch milliseconds"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        ms = int(when.timestamp() * 1000)
    if not MIN_TS_MS <= ms <= MAX_TS_MS:
        raise BadRequest(f"{name}: {value!r} is outside 2000-2100")
    return ms


def machine_path(machine: str) -> MachinePath:
    try:
        return MachinePath.parse(machine)
    except TopicError as exc:
        raise BadRequest(str(exc)) from None


def levels(query: dict[str, str]) -> dict[str, str | None]:
    """The level filters (``site``, ``area``, ``line``, ``machine``) of a query."""
    only: dict[str, str | None] = {}
    for level in LEVELS:
        value = query.get(level)
        if value is not None and not re.fullmatch(NAME_PATTERN, value):
            raise BadRequest(f"{level}: {value!r} is not a name ([A-Za-z0-9_-], 1 to 64)")
        only[level] = value
    return only


def flag(value: str | None, name: str, *, default: bool) -> bool:
    """A true/false query parameter (absent: ``default``)."""
    if value is None:
        return default
    if value not in ("true", "false"):
        raise BadRequest(f"{name}: {value!r} is not true or false")
    return value == "true"
