"""The shapes of the API's answers that no typed model holds (the report's come from
:class:`analytics.report.model.Report`): component schemas of the OpenAPI document
(:mod:`dashboard.openapi`), OpenAPI 3.0 (``nullable`` rather than a ``null`` type)."""

from __future__ import annotations

from typing import Any

from analytics.oee.timeline import LOSS_NAMES
from dashboard.routes.declare import (
    INTEGER,
    NUMBER,
    STRING,
    obj,
    refused,
    schema,
)

NULLABLE_NUMBER = {"type": "number", "nullable": True}


def _array(items: dict[str, Any], description: str | None = None, **more: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "array", "items": items, **more}
    if description is not None:
        out["description"] = description
    return out


def _pairs(description: str) -> dict[str, Any]:
    """[ms, value] points of a curve."""
    return _array({"type": "array", "items": NUMBER, "minItems": 2, "maxItems": 2}, description)


_QUANTILES = obj(("p10", "p50", "p90"), p10=NULLABLE_NUMBER, p50=NULLABLE_NUMBER,
                 p90=NULLABLE_NUMBER)  # fmt: skip
_TARGET = obj(
    ("kind", "name", "note", "next_24h_kwh", "rest_of_day_kwh", "blocks"),
    kind={"type": "string", "enum": ["site", "line", "rest"]},
    name=STRING,
    note=STRING,
    next_24h_kwh=_QUANTILES,
    rest_of_day_kwh=_QUANTILES,
    blocks=_array({"type": "array", "items": NUMBER, "minItems": 4, "maxItems": 4},
                  "[start_ms, p10_kw, p50_kw, p90_kw]"),
)  # fmt: skip
_DEMAND = obj(
    ("site", "peak_p50_kw", "peak_p90_kw", "peak_at", "contracted_kw"),
    site=STRING, peak_p50_kw=NUMBER, peak_p90_kw=NUMBER, peak_at=STRING,
    contracted_kw=NULLABLE_NUMBER, warning_kw=NUMBER,
    approaching=_array(obj(("from", "to", "p90_kw"), from_=STRING, to=STRING, p90_kw=NUMBER)),
)  # fmt: skip
_FLEXIBLE = obj(("load", "target", "action", "kwh_in_peak", "kw_at_site_peak"), load=STRING,
                target=STRING, action=STRING, kwh_in_peak=NUMBER,
                kw_at_site_peak=NULLABLE_NUMBER)  # fmt: skip
_PAST = {
    "type": "object",
    "description": "Per target ('kind name'): what was metered and what had been forecast at "
    "most 24 h ahead",
    "additionalProperties": obj(
        ("actual", "forecast"),
        actual=_array({"type": "array", "items": NULLABLE_NUMBER}),
        forecast=_array({"type": "array", "items": NUMBER}),
    ),
}
_MACHINE = {"machine": STRING, "start_ms": INTEGER, "end_ms": INTEGER}

SCHEMAS: dict[str, Any] = {
    "Name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
    "Error": obj(("error",), error=STRING),
    "Run": obj(("start_ms", "end_ms", "state", "reason", "loss"), start_ms=INTEGER,
               end_ms=INTEGER, state=STRING, reason=STRING,
               loss={"type": "string", "enum": list(LOSS_NAMES)}),
    "Stop": obj(("start_ms", "end_ms", "state", "reason", "loss", "minutes"), start_ms=INTEGER,
                end_ms=INTEGER, state=STRING, reason=STRING,
                loss={"type": "string", "enum": ["small_stop", "breakdown", "setup"]},
                minutes=NUMBER),
    "Timeline": obj(("machine", "start_ms", "end_ms", "runs"), **_MACHINE,
                    runs=_array(schema("Run"))),
    "MachinePage": obj(
        ("machine", "start_ms", "end_ms", "runs", "stops", "power_kw", "vibration_mm_s"),
        **_MACHINE,
        runs=_array(schema("Run")),
        stops=_array(schema("Stop"), "Stops (small stops, breakdowns) and setups, longest first"),
        power_kw=_pairs("[ms, kW], at most 720 points (means of slices)"),
        vibration_mm_s=_pairs("[ms, mm/s], at most 720 points; empty without the sensor"),
    ),
    "Windows": obj(
        ("windows", "targets", "default_target"),
        windows=_array(obj(("id", "label", "from_ms", "to_ms"), id=STRING, label=STRING,
                           from_ms=INTEGER, to_ms=INTEGER)),
        targets={"type": "object", "additionalProperties": NUMBER,
                 "description": "OEE target per line (site/area/line)"},
        default_target=NUMBER,
    ),
    "Forecast": {
        **obj(
            ("origin", "origin_ms", "timezone", "block_minutes", "columns", "history_days",
             "peak_hours", "targets", "demand", "flexible", "past"),
            origin=STRING, origin_ms=INTEGER, timezone=STRING, block_minutes=INTEGER,
            columns=_array(STRING), history_days=NUMBER, train_seconds=NUMBER,
            peak_hours=obj(("bands", "days"), bands=_array(STRING), days=_array(STRING)),
            targets=_array(_TARGET), demand=_array(_DEMAND), flexible=_array(_FLEXIBLE),
            past=_PAST,
        ),
        "additionalProperties": False,
    },
    "ForecastUnavailable": {
        **obj(("unavailable",), unavailable={
            "type": "string", "description": "Why no forecast can be made, and what to do"}),
        "additionalProperties": False,
    },
    "Me": obj(("user", "role", "via", "csrf"), user=STRING,
              role={"type": "string", "enum": ["viewer", "operator", "admin"]},
              via={"type": "string", "enum": ["session", "token", "anonymous"]},
              csrf={"type": "string", "nullable": True}),
    "Alert": obj(
        ("id", "rule", "subject", "severity", "message", "fired_ms", "resolved_ms", "minutes",
         "acked_by", "acked_ms"),
        id=STRING, rule=STRING, subject=STRING,
        severity={"type": "string", "enum": ["critical", "warning"]}, message=STRING,
        value=NULLABLE_NUMBER, threshold=NULLABLE_NUMBER, fired_ms=INTEGER,
        resolved_ms={"type": "integer", "nullable": True},
        resolved_message={"type": "string", "nullable": True}, minutes=NUMBER,
        acked_by={"type": "string", "nullable": True},
        acked_ms={"type": "integer", "nullable": True},
    ),
}  # fmt: skip

PARAMETERS: dict[str, Any] = {
    "from": {"name": "from", "in": "query", "required": False, "schema": STRING,
             "description": "Window start: ISO time or epoch ms (default: the server's default "
             "window)"},
    "to": {"name": "to", "in": "query", "required": False, "schema": STRING,
           "description": "Window end: ISO time or epoch ms"},
}  # fmt: skip


RESPONSES: dict[str, Any] = {
    "BadRequest": refused("A parameter cannot be used; the error says which and why"),
    "NotFound": refused("Nothing for that machine in the window"),
    "Unavailable": refused("The store could not be read"),
    "Unauthorized": refused("No valid session or token (sign in, or send a token)"),
    "Forbidden": refused("The role is not enough, or a session's write lacks its CSRF token"),
}

SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "An API token from `factory users token NAME` (fct_...)"},
    "session": {"type": "apiKey", "in": "cookie", "name": "factory_session",
                "description": "The cookie POST /api/login sets; writes also need the "
                "X-CSRF-Token header"},
}  # fmt: skip
