"""The dashboard's shop-floor API: alerts (read by viewers, acknowledged by operators) and
their notifications; stops and the reasons operators give them. Writes are audited
(:func:`dashboard.auth.record`)."""

from __future__ import annotations

import json
import time
from typing import Any, Protocol

from aiohttp import web

from analytics.oee.accounts import Window
from dashboard.auth import IDENTITY, record
from dashboard.config import DashboardSettings as Settings
from telemetry.models import MAX_TS_MS, MIN_TS_MS
from telemetry.topic import MachinePath


class Dashboard(Protocol):
    """What these routes need of :class:`dashboard.app.Dashboard`."""

    settings: Settings
    plant: Any
    refresh_s: float

    def now_ms(self) -> int: ...

    def params(self, query: dict[str, str]) -> tuple[Window, str | None, dict[str, str | None]]:
        """The window and filters of a query; ValueError (BadRequest) when they are bad."""
        ...

    def forget(self) -> None: ...


STOPS_WINDOW_MS = 7 * 86_400_000
"""Stops are listed for windows up to this long (they are read from the raw readings)."""
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
    from alerting.notifier import read_notices
    from alerting.state import acknowledge, read_alerts
    from core.clock import DAY_MS
    from store import open_reader, opened

    settings = dash.settings
    table = web.RouteTableDef()
    listed: dict[Window, tuple[float, list[tuple[MachinePath, dict[str, Any]]]]] = {}
    """Each window's stops (the whole plant) and when they were read."""

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

    @table.get("/api/stops")
    async def stops(request: web.Request) -> web.Response:
        """Breakdowns (stops at or above the micro-stop threshold) that began in the window,
        each with its reason, whether it is unexplained, and who explained it."""
        from analytics.oee.accounts import machine_params
        from analytics.oee.reasons import LOOK_BACK_MS, panel_row, read_explained
        from analytics.oee.stops import breakdowns, of_readings

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
        hit = listed.get(window)
        if hit is None or time.monotonic() - hit[0] >= dash.refresh_s:
            # The whole plant's stops of the window, read once and kept as reports are.
            reader = open_reader(settings.store_url, token=settings.influx_token)
            data = await reader.read(window.start_ms - 3_600_000, window.end_ms)
            params = machine_params(plant, settings.analytics.max_gap_s)
            found = breakdowns(of_readings(data, params, window), window)
            explained = {(e.path, e.start_ms): e for e in await read_explained(
                reader, window.start_ms - LOOK_BACK_MS, window.end_ms)}  # fmt: skip
            generic = plant.generic_reasons
            every = [(s.path, panel_row(s, explained.get((s.path, s.start_ms)), generic))
                     for s in found]  # fmt: skip
            if len(listed) > 16:
                listed.clear()
            hit = listed[window] = (time.monotonic(), every)
        rows = [row for path, row in hit[1]
                if all(v is None or getattr(path, k) == v for k, v in only.items())]  # fmt: skip
        return web.json_response({
            "catalogue": [r.model_dump() for r in plant.reasons],
            "stops": [r for r in rows if r["unexplained"] or r["explained"]][-500:],
            "unexplained": sum(1 for r in rows if r["unexplained"]),
        })  # fmt: skip

    @table.post("/api/stops/reason")
    async def explain(request: web.Request) -> web.Response:
        """An operator's reason for a stop (audited); changing someone else's needs admin."""
        from analytics.oee.reasons import ReasonError
        from analytics.oee.reasons import explain as store_reason

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
        listed.clear()
        record(request, "stop.reason", True,
               f"{machine} stop at {start}: {made.original} -> {reason}"
               + (f" ({comment[:100]})" if comment else ""))  # fmt: skip
        return web.json_response({"machine": machine, "start_ms": start, "reason": reason,
                                  "original": made.original, "user": made.user})  # fmt: skip

    return table
