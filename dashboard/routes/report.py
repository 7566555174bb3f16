"""The report, a machine's page and timeline, and the windows a user can pick."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from analytics.oee.accounts import Window
from dashboard import views
from dashboard.cache import DASH
from dashboard.params import BY, BadRequest, flag, machine_path
from dashboard.routes.declare import LEVELS, WINDOW, Routes, answer, error, query, schema
from telemetry.topic import MachinePath

routes = Routes()
MACHINE = query("machine", {"type": "string", "pattern": "^" + "/".join(["[A-Za-z0-9_-]{1,64}"] * 4)
                + "$"}, "site/area/line/machine", required=True)  # fmt: skip


@routes.get(
    "/api/report",
    access="viewer",
    operationId="report",
    summary="OEE with losses, energy, anomalies and maturity over a window",
    parameters=[*WINDOW, query("by", {"type": "string", "enum": list(BY)},
                               "Also per shift (needs the plant model), day or hour"), *LEVELS,
                query("anomalies", {"type": "boolean", "default": True},
                      "false: without the anomaly detector's events (no vibration history "
                      "is read: faster, e.g. for a comparison)")],
    responses={"200": answer("The report", schema("Report")), "400": error("BadRequest"),
               "503": error("Unavailable")},
)  # fmt: skip
async def report(request: web.Request) -> web.Response:
    dash = request.app[DASH]
    q = dict(request.query)
    try:
        window, by, only = dash.params(q)
        anomalies = flag(q.get("anomalies"), "anomalies", default=True)
        if "from" not in q and "to" not in q and anomalies:
            data, _ = await dash.live_report(by, only)
        else:
            data, _ = await dash.compute(window, by, only, anomalies=anomalies)
    except BadRequest as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(data.as_json_dict())


@routes.get(
    "/api/windows",
    access="viewer",
    operationId="windows",
    summary="The windows a user can pick (shift-aware with a plant model) and the lines' OEE "
    "targets",
    responses={"200": answer("Windows and targets", schema("Windows"))},
)
async def windows(request: web.Request) -> web.Response:
    dash = request.app[DASH]
    return web.json_response({
        "windows": views.presets(dash.plant, dash.now_ms(), dash.default_window()),
        "targets": views.targets(dash.plant),
        "default_target": views.WORLD_CLASS_OEE,
    })  # fmt: skip


async def _one_machine(
    request: web.Request,
    build: Callable[[Window, MachinePath], Awaitable[dict[str, Any] | None]],
) -> web.Response:
    """The answer about one machine (``machine``, ``from``, ``to``): 400, 404 or ``build``'s."""
    query = dict(request.query)
    try:
        path = machine_path(query.get("machine", ""))
        window = request.app[DASH].window(query)
    except BadRequest as exc:
        return web.json_response({"error": str(exc)}, status=400)
    body = await build(window, path)
    if body is None:
        return web.json_response({"error": f"no telemetry for {path} in the window"}, status=404)
    return web.json_response({"machine": str(path), "start_ms": window.start_ms,
                              "end_ms": window.end_ms, **body})  # fmt: skip


ONE_MACHINE = {"400": error("BadRequest"), "404": error("NotFound"), "503": error("Unavailable")}


@routes.get(
    "/api/machine",
    access="viewer",
    operationId="machine",
    summary="A machine's page: its runs, stops and setups (longest first), power curve and "
    "vibration trace over a window",
    parameters=[MACHINE, *WINDOW],
    responses={"200": answer("The machine's page", schema("MachinePage")), **ONE_MACHINE},
)
async def machine(request: web.Request) -> web.Response:
    return await _one_machine(request, request.app[DASH].machine)


@routes.get(
    "/api/timeline",
    access="viewer",
    operationId="timeline",
    summary="A machine's states and reasons over a window (for a Gantt chart)",
    parameters=[MACHINE, *WINDOW],
    responses={"200": answer("The runs of one state and reason, in time order",
                             schema("Timeline")), **ONE_MACHINE},
)  # fmt: skip
async def timeline(request: web.Request) -> web.Response:
    dash = request.app[DASH]

    async def runs(window: Window, path: MachinePath) -> dict[str, Any] | None:
        found = await dash.timeline(window, path)
        return None if found is None else {"runs": found.runs(window)}

    return await _one_machine(request, runs)
