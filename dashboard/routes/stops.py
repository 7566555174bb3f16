"""Breakdowns without a reason (read by viewers) and the reasons operators give them
(audited)."""

from __future__ import annotations

from aiohttp import web

from analytics.oee.reasons import ReasonError
from analytics.oee.reasons import explain as store_reason
from core.clock import DAY_MS
from dashboard.auth import IDENTITY, record
from dashboard.cache import DASH
from dashboard.routes.declare import (
    BOOLEAN,
    INTEGER,
    NUMBER,
    STRING,
    Routes,
    answer,
    error,
    json_body,
    obj,
    query,
    read_json,
    refused,
)
from store import open_reader, opened
from telemetry.models import MAX_TS_MS, MIN_TS_MS
from telemetry.topic import MachinePath

routes = Routes()
STOPS_WINDOW_MS = 7 * DAY_MS
"""Stops are listed for windows up to this long (they are read from the raw readings)."""
STOP = obj(
    ("machine", "start_ms", "end_ms", "minutes", "state", "sent_reason", "reason",
     "unexplained", "explained"),
    machine=STRING, start_ms=INTEGER, end_ms=INTEGER, minutes=NUMBER, state=STRING,
    sent_reason=STRING, reason=STRING, unexplained=BOOLEAN,
    explained={"type": "object", "nullable": True},
)  # fmt: skip


@routes.get(
    "/api/stops",
    access="viewer",
    operationId="stops",
    summary="Breakdowns of the window (stops at least the micro-stop threshold long) that "
    "arrived without a reason or with a generic one, and those operators explained; the "
    "plant's reason catalogue (windows up to 7 days)",
    parameters=[
        query("from", STRING, "window start, ISO 8601 or epoch ms"),
        query("to", STRING, "window end"),
        *(query(level, STRING, f"only this {level}") for level in ("site", "area", "line",
                                                                   "machine")),
    ],
    responses={
        "200": answer("Stops", obj(
            ("catalogue", "stops", "unexplained"),
            catalogue={"type": "array", "items": {"type": "object"}},
            stops={"type": "array", "items": STOP},
            unexplained=INTEGER,
            unavailable={"type": "string", "nullable": True, "description": "why there is no "
                         "list (no reason catalogue in the plant model, a window over 7 days)"},
        )),
        "400": error("BadRequest"),
        "503": error("Unavailable"),
    },
)  # fmt: skip
async def stops(request: web.Request) -> web.Response:
    """Breakdowns (stops at or above the micro-stop threshold) that began in the window,
    each with its reason, whether it is unexplained, and who explained it."""
    dash = request.app[DASH]
    plant = dash.plant
    try:
        window, _, only = dash.params(dict(request.query))
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    why = None  # not an error: the page says why there is no list
    if plant is None or not plant.reasons:
        why = "stops and their reasons need a reason catalogue in the plant model"
    elif window.end_ms - window.start_ms > STOPS_WINDOW_MS:
        why = "stops are listed for windows of 7 days at most"
    if why is not None or plant is None:
        return web.json_response(
            {"unavailable": why, "catalogue": [], "stops": [], "unexplained": 0}
        )
    every = await dash.breakdowns(window)
    rows = [row for path, row in every
            if all(v is None or getattr(path, k) == v for k, v in only.items())]  # fmt: skip
    return web.json_response({
        "catalogue": [r.model_dump() for r in plant.reasons],
        "stops": [r for r in rows if r["unexplained"] or r["explained"]][-500:],
        "unexplained": sum(1 for r in rows if r["unexplained"]),
    })  # fmt: skip


@routes.post(
    "/api/stops/reason",
    access="operator",
    operationId="explainStop",
    summary="Give a stop a reason from the plant's catalogue (operators; changing someone "
    "else's needs admin; audited)",
    requestBody=json_body(obj(
        ("machine", "start_ms", "reason"),
        machine=STRING,
        start_ms={"type": "integer", "minimum": MIN_TS_MS, "maximum": MAX_TS_MS},
        reason=STRING,
        comment={"type": "string", "maxLength": 500},
    )),
    responses={
        "200": answer("Stored", obj(("machine", "start_ms", "reason", "original", "user"),
                                    machine=STRING, start_ms=INTEGER, reason=STRING,
                                    original=STRING, user=STRING)),
        "400": error("BadRequest"),
        "409": refused("Refused: no such stop, a reason not in the catalogue, someone else's "
                       "reason, or no plant model"),
        "503": error("Unavailable"),
    },
)  # fmt: skip
async def explain(request: web.Request) -> web.Response:
    """An operator's reason for a stop (audited); changing someone else's needs admin."""
    dash = request.app[DASH]
    settings = dash.settings
    body = await read_json(request)
    plant = dash.plant
    if plant is None:
        return web.json_response({"error": "reasons need the plant model"}, status=409)
    machine, start, reason = body.get("machine"), body.get("start_ms"), body.get("reason")
    comment = body.get("comment", "")
    if not (isinstance(machine, str) and isinstance(start, int) and isinstance(reason, str)
            and isinstance(comment, str)):  # fmt: skip
        return web.json_response({"error": "give machine (site/area/line/machine), "
                                  "start_ms (integer), reason and optionally comment"},
                                 status=400)  # fmt: skip
    if isinstance(start, bool) or not MIN_TS_MS <= start <= MAX_TS_MS:
        return web.json_response({"error": "start_ms: the stop's start in epoch milliseconds "
                                  f"({MIN_TS_MS} to {MAX_TS_MS})"}, status=400)  # fmt: skip
    try:
        path = MachinePath.parse(machine)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    who = request[IDENTITY]
    try:
        async with opened(settings.store_url, token=settings.influx_token) as store:
            reader = open_reader(settings.store_url, token=settings.influx_token)
            made = await store_reason(store, reader, plant, path, start, reason, comment,
                                      who.user, may_overrule=who.may("admin"),
                                      max_gap_s=settings.analytics.max_gap_s)  # fmt: skip
    except ReasonError as exc:
        record(request, "stop.reason", False, f"{machine} {start}: {exc}"[:300])
        return web.json_response({"error": str(exc)}, status=409)
    dash.forget()
    record(request, "stop.reason", True,
           f"{machine} stop at {start}: {made.original} -> {reason}"
           + (f" ({comment[:100]})" if comment else ""))  # fmt: skip
    return web.json_response({"machine": machine, "start_ms": start, "reason": reason,
                              "original": made.original, "user": made.user})  # fmt: skip
