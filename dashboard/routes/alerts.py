"""Alerts: read by viewers, acknowledged by operators (audited), with their
notifications' delivery."""

from __future__ import annotations

import time

from aiohttp import web

from alerting.notifier import read_notices
from alerting.state import acknowledge, read_alerts
from core.clock import DAY_MS
from dashboard.auth import IDENTITY, record
from dashboard.cache import DASH
from dashboard.routes.declare import (
    INTEGER,
    STRING,
    Routes,
    answer,
    error,
    json_body,
    obj,
    read_json,
    schema,
)
from store import open_reader, opened

routes = Routes()
RECENT_MS = 7 * DAY_MS
"""Resolved alerts stay on the page this long."""
NOTICE = obj(
    ("channel", "alert", "event", "status", "attempts", "error"),
    channel=STRING,
    alert=STRING,
    event={"type": "string", "enum": ["fired", "resolved"]},
    status={"type": "string", "enum": ["pending", "delivered", "failed", "suppressed"]},
    attempts=INTEGER,
    next_ms=INTEGER,
    error={"type": "string", "nullable": True},
    done_ms={"type": "integer", "nullable": True},
    created_ms=INTEGER,
)


@routes.get(
    "/api/alerts",
    access="viewer",
    operationId="alerts",
    summary="Open alerts and those resolved in the last 7 days, newest first, with the "
    "delivery of their notifications",
    responses={
        "200": answer("Alerts", obj(
            ("now_ms", "alerts", "open", "notices", "undelivered", "channels"),
            now_ms=INTEGER,
            alerts={"type": "array", "items": schema("Alert")},
            open=INTEGER,
            notices={"type": "object", "additionalProperties": INTEGER},
            undelivered={"type": "array", "items": NOTICE},
            channels={"type": "array", "items": STRING},
        )),
        "503": error("Unavailable"),
    },
)  # fmt: skip
async def alerts(request: web.Request) -> web.Response:
    dash = request.app[DASH]
    settings = dash.settings
    now = dash.now_ms()  # a dashboard of a fixed past window sees the alerts up to its end
    reader = open_reader(settings.store_url, token=settings.influx_token)
    start = now - settings.alerts.history_days * DAY_MS
    found = await read_alerts(reader, start, now + 1)
    shown = [a for a in found if a.open or (a.resolved_ms or 0) >= now - RECENT_MS]
    notices = await read_notices(reader, start, now + 1)
    counts = {s: sum(1 for n in notices if n.status == s)
              for s in ("pending", "delivered", "failed", "suppressed")}  # fmt: skip
    return web.json_response({
        "now_ms": now,
        "alerts": [a.as_dict(now) for a in shown[:500]],
        "open": sum(1 for a in found if a.open),
        "notices": counts,
        "undelivered": [n.as_dict() for n in notices
                        if n.status in ("failed", "suppressed")][-100:],
        "channels": [c.name for c in settings.alerts.channels],
    })  # fmt: skip


@routes.post(
    "/api/alerts/ack",
    access="operator",
    operationId="acknowledgeAlert",
    summary="Acknowledge an alert (operators; audited)",
    requestBody=json_body(obj(("id",), id={"type": "string", "description":
                                            "rule|subject|fired_ms, as /api/alerts gives it"})),
    responses={"200": answer("Acknowledged", schema("Alert")), "400": error("BadRequest"),
               "404": error("NotFound"), "503": error("Unavailable")},
)  # fmt: skip
async def ack(request: web.Request) -> web.Response:
    """Acknowledge an alert (operators): who and when are kept with it."""
    dash = request.app[DASH]
    settings = dash.settings
    body = await read_json(request)
    alert_id = body.get("id")
    if not isinstance(alert_id, str):
        return web.json_response({"error": 'give the alert\'s id: {"id": ...}'}, status=400)
    user = request[IDENTITY].user
    try:
        async with opened(settings.store_url, token=settings.influx_token) as store:
            reader = open_reader(settings.store_url, token=settings.influx_token)
            alert = await acknowledge(store, reader, alert_id, user)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except KeyError:
        record(request, "alert.ack", False, f"no alert {alert_id[:120]}")
        return web.json_response({"error": "no such alert"}, status=404)
    record(request, "alert.ack", True, alert.id)
    return web.json_response(alert.as_dict(int(time.time() * 1000)))
