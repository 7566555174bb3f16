"""The dashboard's report cache service: the report of the default window computed at start
and refreshed in the background every ``refresh_s`` seconds, so the page shows numbers at
once even for a large plant; other windows computed on request and kept for ``refresh_s``
seconds; the forecast and the stops panel kept the same way. Computation runs in a worker
thread, so one slow report never holds up the other requests."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web

from analytics.forecast.outlook import Outlook
from analytics.oee.accounts import Window
from analytics.oee.analysis import analyse
from analytics.oee.book import Book
from analytics.oee.stored import Recent
from analytics.oee.timeline import Timeline
from analytics.report.build import compute_report
from analytics.report.model import Report
from core.clock import DAY_MS, HOUR_MS
from dashboard import views
from dashboard.config import DashboardSettings as Settings
from dashboard.params import BY, LEVELS, BadRequest, levels, parse_time
from store import open_reader
from telemetry.topic import MachinePath

T = TypeVar("T")
log = logging.getLogger("factory.serve")


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
    stops: dict[Window, tuple[float, list[tuple[MachinePath, dict[str, Any]]]]] = field(
        default_factory=dict
    )
    recent: Recent = field(default_factory=Recent)
    """Hours computed from raw readings, reused as the live window moves (while current)."""
    """Each window's breakdowns (the whole plant) for the reasons panel, and when read."""

    def now_ms(self) -> int:
        """Now, or the end of the fixed window (the windows a user can pick end there)."""
        return self.fixed[1] if self.fixed is not None else int(time.time() * 1000)

    def default_window(self) -> Window:
        if self.fixed is not None:
            return Window(*self.fixed)
        now = int(time.time() * 1000)
        return Window(now - int(self.hours * HOUR_MS), now)

    def window(self, query: dict[str, str]) -> Window:
        start, end = parse_time(query.get("from"), "from"), parse_time(query.get("to"), "to")
        if start is None and end is None:
            return self.default_window()
        default = self.default_window()
        end = end if end is not None else default.end_ms
        start = start if start is not None else end - (default.end_ms - default.start_ms)
        if end <= start:
            raise BadRequest("to must be after from")
        if end - start > 31 * DAY_MS:
            raise BadRequest("the window may be 31 days at most")
        return Window(start, end)

    def params(self, query: dict[str, str]) -> tuple[Window, str | None, dict[str, str | None]]:
        by = query.get("by")
        if by is not None and by not in BY:
            raise BadRequest(f"by: {by!r} is not one of {', '.join(BY)}")
        if by == "shift" and self.plant is None:
            raise BadRequest("by=shift needs a plant model (factory serve --plant)")
        return self.window(query), by, levels(query)

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
                    recent=self.recent,
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
        """Drop the computed reports and stops (something changed what they say: a stop's
        reason)."""
        self._cache.clear()
        self.stops.clear()

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
        against actual for the two days before it. Made at most once per 15-minute origin
        and ``forecast.every_s`` (what `factory aggregate` stores it at), however many
        pages ask meanwhile (one computes, the others wait for it): a forecast reads weeks
        of history. Without a plant model, or without enough metered history: None and
        ``{"unavailable": why}``."""
        from core.clock import floor_block

        if self.plant is None:
            return None, {"unavailable": "the forecast needs a plant model (factory serve --plant)"}
        origin = floor_block(at if at is not None else self.now_ms())
        keep_s = max(self.refresh_s, self.settings.forecast.every_s)
        hit = self._forecasts.get(origin)
        if hit is not None and time.monotonic() - hit[0] < keep_s:
            return hit[1], hit[2]
        async with self._locks.setdefault(("forecast", origin), asyncio.Lock()):
            hit = self._forecasts.get(origin)
            if hit is not None and time.monotonic() - hit[0] < keep_s:
                return hit[1], hit[2]
            return await self._make_outlook(origin)

    async def _make_outlook(self, origin: int) -> tuple[Outlook | None, dict[str, Any]]:
        from analytics.forecast.model import ForecastError
        from analytics.forecast.stored import make_outlook
        from plant.plan import PlanError

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


DASH = web.AppKey("dashboard", Dashboard)
