"""The dashboard's shop-floor API: alerts (read by viewers, acknowledged by operators) and
their notifications. Writes are audited (:func:`factory_cli.web_auth.record`)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from factory_cli.web_auth import IDENTITY, record

if TYPE_CHECKING:
    from factory_cli.serve import Dashboard

RECENT_MS = 7 * 86_400_000
"""Resolved alerts stay on the page this long."""
MAX_BODY = 4096


async def read_json(request: web.Request) -> dict[str, Any]:
    """A small JSON object body, or 400."""
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise web.HTTPBadRequest(reason=f"the body may be {MAX_BODY} bytes at most")
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(reason="the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(reason="the body must be a JSON object")
    return body


def routes(dash: Dashboard) -> web.RouteTableDef:
    from analytics.alerts import DAY_MS, acknowledge, read_alerts
    from analytics.notify import read_notices
    from store import open_reader, open_store

    settings = dash.settings
    table = web.RouteTableDef()

    @table.get("/api/alerts")
    async def alerts(_request: web.Request) -> web.Response:
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

    @table.post("/api/alerts/ack")
    async def ack(request: web.Request) -> web.Response:
        """Acknowledge an alert (operators): who and when are kept with it."""
        body = await read_json(request)
        alert_id = body.get("id")
        if not isinstance(alert_id, str):
            return web.json_response({"error": 'give the alert\'s id: {"id": ...}'}, status=400)
        user = request[IDENTITY].user
        store = open_store(settings.store_url, token=settings.influx_token)
        await store.open()
        try:
            reader = open_reader(settings.store_url, token=settings.influx_token)
            alert = await acknowledge(store, reader, alert_id, user)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except KeyError:
            record(request, "alert.ack", False, f"no alert {alert_id[:120]}")
            return web.json_response({"error": "no such alert"}, status=404)
        finally:
            await store.close()
        record(request, "alert.ack", True, alert.id)
        return web.json_response(alert.as_dict(int(time.time() * 1000)))

    return table
