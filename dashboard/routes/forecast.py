"""The energy forecast: read it (viewers), store it now (operators)."""

from __future__ import annotations

from aiohttp import web

from dashboard.auth import record
from dashboard.cache import DASH
from dashboard.params import BadRequest, parse_time
from dashboard.routes.declare import (
    INTEGER,
    STRING,
    Routes,
    answer,
    error,
    obj,
    query,
    refused,
    schema,
)

routes = Routes()


@routes.get(
    "/api/forecast",
    access="viewer",
    operationId="forecast",
    summary="Energy load of each site and line for the next 24 hours (15-minute blocks, 80 % "
    "interval), contracted-demand warnings, flexible loads in peak hours, and forecast "
    "against actual for the two days before",
    parameters=[query("at", STRING, "Forecast from this time: ISO time or epoch ms (default: "
                      "now, or the end of the server's fixed window)")],
    responses={
        "200": answer("The outlook, or why there is none yet (no plant model, not enough "
                      "metered history)",
                      {"oneOf": [schema("Forecast"), schema("ForecastUnavailable")]}),
        "400": error("BadRequest"),
        "503": error("Unavailable"),
    },
)  # fmt: skip
async def forecast(request: web.Request) -> web.Response:
    try:
        _, body = await request.app[DASH].outlook(parse_time(request.query.get("at"), "at"))
    except BadRequest as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(body)


@routes.post(
    "/api/forecast",
    access="operator",
    operationId="saveForecast",
    summary="Store the forecast from now (operators; what `factory aggregate` does every 15 "
    "minutes)",
    responses={
        "200": answer("Stored", obj(("stored", "origin"), stored=INTEGER, origin=STRING)),
        "409": refused("No forecast can be made yet (no plant model, not enough history)"),
        "503": error("Unavailable"),
    },
)
async def save_forecast(request: web.Request) -> web.Response:
    """Store the current forecast now (operators): Grafana and --accuracy read it."""
    dash = request.app[DASH]
    made, doc = await dash.outlook(None)
    if made is None:
        record(request, "forecast.save", False, doc["unavailable"])
        return web.json_response({"error": doc["unavailable"]}, status=409)
    n = await dash.save_forecast(made)
    record(request, "forecast.save", True, f"{n} points from {doc['origin']}")
    return web.json_response({"stored": n, "origin": doc["origin"]})
