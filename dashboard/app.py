"""`factory serve`: a JSON API (OpenAPI in ``web/openapi.json``) and the live dashboard.

Everything the page shows comes from the same report as `factory report --format json`.
The report of the default window is computed at start and refreshed in the background
every ``refresh_s`` seconds, so the page shows numbers at once even for a large plant;
other windows are computed on request and kept for ``refresh_s`` seconds. Every asset is
served from the package (``dashboard/web``); nothing is loaded from elsewhere.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from analytics.forecast.outlook import Outlook
from analytics.oee.accounts import Window
from analytics.oee.analysis import analyse
from analytics.oee.book import Book
from analytics.oee.timeline import Timeline
from analytics.report.build import compute_report
from analytics.report.model import Report
from core.errors import FactoryError
from dashboard import views
from dashboard.config import DashboardSettings as Settings
from store import open_reader
from telemetry.models import NAME_PATTERN
from telemetry.topic import MachinePath, TopicError

WEB = Path(__file__).parent / "web"
T = TypeVar("T")
log = logging.getLogger("factory.serve")
BY = ("shift", "day", "hour")
LEVELS = ("site", "area", "line", "machine")


class BadRequest(FactoryError, ValueError):
    pass


def _time(value: str | None, name: str) -> int | None:
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
    if not 946_684_800_000 <= ms <= 4_102_444_800_000:
        raise BadRequest(f"{name}: {value!r} is outside 2000-2100")
    return ms


async def in_worker_thread(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``work()`` on its own event loop in a worker thread: the computation is CPU work
    that would otherwise hold up every other request. Cancelling the caller cancels the
    work in the thread too, so that a stop never waits for a slow store."""
    handle: concurrent.futures.Future[tuple[asyncio.AbstractEventLoop, asyncio.Task[T]]]
    handle = concurrent.futures.Future()

    def thread() -> T:
        async def main() -> T:
            task = asyncio.ensure_future(work())
            handle.set_result((asyncio.get_running_loop(), task))
            return await task

        return asyncio.run(main())

    done = asyncio.get_running_loop().run_in_executor(None, thread)
    try:
        return await asyncio.shield(done)
    except asyncio.CancelledError:
        loop, task = await asyncio.wrap_future(handle)
        loop.call_soon_threadsafe(task.cancel)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await done
        raise


@dataclass
class Dashboard:
    settings: Settings
    plant: Any = None
    hours: float = 8.0
    fixed: tuple[int, int] | None = None
    """A fixed default window (e.g. a past shift); None: the last ``hours`` up to now."""
    refresh_s: float = 30.0
    _cache: dict[tuple[Any, ...], tuple[float, Report, Book]] = field(default_factory=dict)
    _forecasts: dict[int, tuple[float, Outlook | None, dict[str, Any]]] = field(
        default_factory=dict
    )
    _locks: dict[tuple[Any, ...], asyncio.Lock] = field(default_factory=dict)

    def now_ms(self) -> int:
        """Now, or the end of the fixed window (the windows a user can pick end there)."""
        return self.fixed[1] if self.fixed is not None else int(time.time() * 1000)

    def default_window(self) -> Window:
        if self.fixed is not None:
            return Window(*self.fixed)
        now = int(time.time() * 1000)
        return Window(now - int(self.hours * 3_600_000), now)

    def window(self, query: dict[str, str]) -> Window:
        start, end = _time(query.get("from"), "from"), _time(query.get("to"), "to")
        if start is None and end is None:
            return self.default_window()
        default = self.default_window()
        end = end if end is not None else default.end_ms
        start = start if start is not None else end - (default.end_ms - default.start_ms)
        if end <= start:
            raise BadRequest("to must be after from")
        if end - start > 31 * 86_400_000:
            raise BadRequest("the window may be 31 days at most")
        return Window(start, end)

    def params(self, query: dict[str, str]) -> tuple[Window, str | None, dict[str, str | None]]:
        by = query.get("by")
        if by is not None and by not in BY:
            raise BadRequest(f"by: {by!r} is not one of {', '.join(BY)}")
        if by == "shift" and self.plant is None:
            raise BadRequest("by=shift needs a plant model (factory serve --plant)")
        only: dict[str, str | None] = {}
        for level in LEVELS:
            value = query.get(level)
            if value is not None and not re.fullmatch(NAME_PATTERN, value):
                raise BadRequest(f"{level}: {value!r} is not a name ([A-Za-z0-9_-], 1 to 64)")
            only[level] = value
        return self.window(query), by, only

    async def compute(
        self, window: Window, by: str | None, only: dict[str, str | None], *, fresh: bool = False
    ) -> tuple[Report, Book]:
        key = (window, by, tuple(sorted(only.items())))
        hit = self._cache.get(key)
        if hit is not None and not fresh and time.monotonic() - hit[0] < self.refresh_s:
            return hit[1], hit[2]
        lock = self._locks.setdefault(key, asyncio.Lock())
        if hit is not None and lock.locked() and not fresh:
            return hit[1], hit[2]  # being recomputed: the last one, at once
        async with lock:
            hit = self._cache.get(key)
            if hit is not None and not fresh and time.monotonic() - hit[0] < self.refresh_s:
                return hit[1], hit[2]
            report, analysis = await in_worker_thread(
                lambda: compute_report(
                    self.settings.store_url,
                    window,
                    token=self.settings.influx_token,
                    config=self.settings.analytics,
                    plant=self.plant,
                    by=by,  # type: ignore[arg-type]
                    only=only,
                )
            )
            generated = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            report = report.model_copy(update={"generated_at": generated})
            if len(self._cache) > 32:
                self._cache.clear()
                self._locks = {key: lock}
            self._cache[key] = (time.monotonic(), report, analysis)
            return report, analysis

    def forget(self) -> None:
        """Drop the computed reports (something changed what they say: a stop's reason)."""
        self._cache.clear()

    async def timeline(self, window: Window, path: MachinePath) -> Timeline | None:
        """One machine's timeline over a window, from its raw readings."""
        reader = open_reader(self.settings.store_url, token=self.settings.influx_token)
        analysis = await in_worker_thread(
            lambda: analyse(
                reader, window, plant=self.plant, max_gap_s=self.settings.analytics.max_gap_s
            )
        )
        return analysis.timelines.get(path)

    async def machine(self, window: Window, path: MachinePath) -> dict[str, Any] | None:
        """One machine's page: timeline, stops, power curve and vibration trace."""
        found = await self.timeline(window, path)
        if found is None:
            return None
        reader = open_reader(self.settings.store_url, token=self.settings.influx_token)
        sensors = await reader.read_sensor("vibration_mm_s", window.start_ms, window.end_ms)
        return views.machine_page(found, path, window, sensors.get(path))

    async def outlook(self, at: int | None) -> tuple[Outlook | None, dict[str, Any]]:
        """The energy outlook from ``at`` (default now) and its JSON answer, with forecast
        against actual for the two days before it; kept for ``refresh_s`` seconds. Without
        a plant model, or without enough metered history: None and ``{"unavailable": why}``."""
        from analytics.forecast.model import ForecastError
        from analytics.forecast.stored import make_outlook
        from core.clock import floor_block
        from plant.plan import PlanError

        if self.plant is None:
            return None, {"unavailable": "the forecast needs a plant model (factory serve --plant)"}
        origin = floor_block(at if at is not None else self.now_ms())
        hit = self._forecasts.get(origin)
        if hit is not None and time.monotonic() - hit[0] < self.refresh_s:
            return hit[1], hit[2]
        cfg = self.settings.forecast
        reader = open_reader(self.settings.store_url, token=self.settings.influx_token)
        try:
            plan = cfg.plan_for(self.plant)
            made, past = await in_worker_thread(
                lambda: make_outlook(reader, self.plant, origin, config=cfg, plan=plan,
                                     max_gap_s=self.settings.analytics.max_gap_s, past_days=2)
            )  # fmt: skip
        except (ForecastError, PlanError) as exc:  # not yet possible: the page says why
            # kept too: finding out read the whole history
            kept: tuple[Outlook | None, dict[str, Any]] = (None, {"unavailable": str(exc)})
        else:
            kept = (made, {**made.as_dict(), "past": past})
        if len(self._forecasts) > 8:
            self._forecasts.clear()
        self._forecasts[origin] = (time.monotonic(), *kept)
        return kept

    async def save_forecast(self, made: Outlook) -> int:
        """Store an outlook (as `factory aggregate` does every 15 minutes)."""
        from analytics.forecast.stored import forecast_points
        from store import opened

        points = forecast_points(made, self.now_ms())

        async def work() -> int:
            async with opened(self.settings.store_url, token=self.settings.influx_token) as store:
                return await store.write_points(points)

        return await in_worker_thread(work)

    async def refresher(self) -> None:
        """Keep the default window's report fresh (the live view). A report that takes
        long to compute (a large plant) is refreshed less often: at most a third of the
        time is spent recomputing."""
        while True:
            started = time.monotonic()
            try:
                window = self.default_window()
                await self.compute(window, None, dict.fromkeys(LEVELS), fresh=True)
            except Exception as exc:  # the store may be away: keep serving what we have
                log.error("refresh failed: %s", exc)
            took = time.monotonic() - started
            await asyncio.sleep(max(self.refresh_s, 2 * took))


def _machine_path(machine: str) -> MachinePath:
    try:
        return MachinePath.parse(machine)
    except TopicError as exc:
        raise BadRequest(str(exc)) from None


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def make_app(dash: Dashboard, *, tls: bool = False) -> web.Application:
    from dashboard import ops as web_ops
    from dashboard.auth import GUARD, Guard, record
    from users.database import AuthDb

    cfg = dash.settings.serve
    users = AuthDb(cfg.users_db, max_failures=cfg.max_failures, lockout_s=cfg.lockout_minutes
                   * 60, session_s=cfg.session_minutes * 60, actor="serve")  # fmt: skip
    guard = Guard(users, cfg, tls=tls, lang=dash.settings.lang)
    routes = web.RouteTableDef()

    @routes.get("/")
    async def index(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB / "index.html")

    @routes.get("/openapi.json")
    async def openapi(_request: web.Request) -> web.Response:
        return web.json_response(json.loads((WEB / "openapi.json").read_text()))

    @routes.get("/api/health")
    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    @routes.get("/api/report")
    async def report(request: web.Request) -> web.Response:
        try:
            window, by, only = dash.params(dict(request.query))
            data, _ = await dash.compute(window, by, only)
        except BadRequest as exc:
            return _error(400, str(exc))
        return web.json_response(data.as_json_dict())

    @routes.get("/api/forecast")
    async def forecast(request: web.Request) -> web.Response:
        try:
            _, body = await dash.outlook(_time(request.query.get("at"), "at"))
        except BadRequest as exc:
            return _error(400, str(exc))
        return web.json_response(body)

    @routes.post("/api/forecast")
    async def save_forecast(request: web.Request) -> web.Response:
        """Store the current forecast now (operators): Grafana and --accuracy read it."""
        made, doc = await dash.outlook(None)
        if made is None:
            record(request, "forecast.save", False, doc["unavailable"])
            return _error(409, doc["unavailable"])
        n = await dash.save_forecast(made)
        record(request, "forecast.save", True, f"{n} points from {doc['origin']}")
        return web.json_response({"stored": n, "origin": doc["origin"]})

    @routes.get("/api/windows")
    async def windows(_request: web.Request) -> web.Response:
        return web.json_response({
            "windows": views.presets(dash.plant, dash.now_ms(), dash.default_window()),
            "targets": views.targets(dash.plant),
            "default_target": views.WORLD_CLASS_OEE,
        })  # fmt: skip

    async def one_machine(
        request: web.Request,
        build: Callable[[Window, MachinePath], Awaitable[dict[str, Any] | None]],
    ) -> web.Response:
        """The answer about one machine (``machine``, ``from``, ``to``): 400, 404 or ``build``'s."""
        query = dict(request.query)
        try:
            path = _machine_path(query.get("machine", ""))
            window = dash.window(query)
        except BadRequest as exc:
            return _error(400, str(exc))
        body = await build(window, path)
        if body is None:
            return _error(404, f"no telemetry for {path} in the window")
        return web.json_response({"machine": str(path), "start_ms": window.start_ms,
                                  "end_ms": window.end_ms, **body})  # fmt: skip

    @routes.get("/api/machine")
    async def machine(request: web.Request) -> web.Response:
        return await one_machine(request, dash.machine)

    @routes.get("/api/timeline")
    async def timeline(request: web.Request) -> web.Response:
        async def runs(window: Window, path: MachinePath) -> dict[str, Any] | None:
            found = await dash.timeline(window, path)
            return None if found is None else {"runs": found.runs(window)}

        return await one_machine(request, runs)

    @web.middleware
    async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPException as exc:
            if exc.status >= 400:
                return _error(exc.status, exc.reason)
            raise
        except Exception as exc:
            log.exception("request failed")
            return _error(503, f"the store could not be read: {exc}")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    app = web.Application(middlewares=[guard.middleware, errors], client_max_size=64 * 1024)
    app[GUARD] = guard
    app.add_routes(routes)
    app.add_routes(web_ops.routes(dash))
    app.add_routes(guard.routes())
    app.router.add_static("/static/", WEB / "static")

    async def background(app: web.Application) -> Any:
        task = asyncio.create_task(dash.refresher())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(background)

    async def close_users(_app: web.Application) -> None:
        users.close()

    app.on_cleanup.append(close_users)
    return app


async def serve(
    dash: Dashboard,
    host: str,
    port: int,
    *,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Serve until ``stop`` is set (or cancelled); the default report is computed before the
    port opens."""
    from dashboard.auth import listening

    context = listening(dash.settings.serve, host)
    window = dash.default_window()
    started = time.monotonic()
    await dash.compute(window, None, dict.fromkeys(LEVELS))
    log.info("first report in %.1f s", time.monotonic() - started)
    runner = web.AppRunner(make_app(dash, tls=context is not None), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=context)
    await site.start()
    if ready is not None:
        ready.set()
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await runner.cleanup()
