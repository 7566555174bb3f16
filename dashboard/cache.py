"""The dashboard's report cache service.

The **live view** (the default window, up to now) is what the refresher keeps: every
``refresh_s`` seconds (longer when a cycle takes long) it computes, for the window up to
that moment, everything the overview asks for: the report with its hours (the plain
report is the same book without them), the previous window of the same length for the
comparison (without the anomaly detector: only its figures are compared), and the
window's stops. Only then does the new window become the live one, so a page that loads
finds every one of its requests ready, however large the plant. With nobody looking (no
request for the live view for ``idle_after_s``), the refresher rests; the next look
computes afresh. Other windows are computed on request and kept (the 8 most recent,
the live ones never dropped) for ``refresh_s`` seconds. The forecast has a task of its
own (:meth:`forecaster`), once per 15-minute origin: the panel shows the newest made.
Computation runs in worker threads, so one slow report never holds up other requests."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web

from analytics.forecast.outlook import Outlook
from analytics.oee.accounts import Window
from analytics.oee.analysis import analyse
from analytics.oee.book import Book
from analytics.oee.stored import Recent
from analytics.oee.timeline import Timeline
from analytics.report.build import build, compute_report
from analytics.report.model import Report
from core.clock import DAY_MS, HOUR_MS
from dashboard import views
from dashboard.config import DashboardSettings as Settings
from dashboard.params import BY, LEVELS, BadRequest, levels, parse_time
from store import open_reader
from telemetry.topic import MachinePath

T = TypeVar("T")
Key = tuple[Window, str | None, tuple[tuple[str, str | None], ...], bool]
ROOT: dict[str, str | None] = dict.fromkeys(LEVELS)
"""The level filters of the whole plant (the overview)."""
KEEP = 8
"""Reports kept besides the live ones (a large plant's report and book: hundreds of MB)."""
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
    idle_after_s: float = 300.0
    """The refresher rests when nobody has asked for the live view for this long."""
    _cache: dict[Key, tuple[float, Report, Book]] = field(default_factory=dict)
    _forecasts: dict[int, tuple[float, Outlook | None, dict[str, Any]]] = field(
        default_factory=dict
    )
    _locks: dict[Any, asyncio.Lock] = field(default_factory=dict)
    stops: dict[Window, tuple[float, list[tuple[MachinePath, dict[str, Any]]]]] = field(
        default_factory=dict
    )
    """Each window's breakdowns (the whole plant) for the reasons panel, and when read."""
    recent: Recent = field(default_factory=Recent)
    """Hours computed from raw readings, reused as the live window moves (while current)."""
    live: Window | None = None
    """The live window whose reports the refresher has ready."""
    was_live: Window | None = None
    """The live window before it."""
    cycle_s: float = 0.0
    """How long the refresher's last cycle took."""
    watched: float = field(default_factory=time.monotonic)
    """When the live view was last asked for."""
    newest: tuple[Outlook | None, dict[str, Any]] | None = None
    """The newest current outlook the forecaster made (what the forecast panel shows)."""

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

    @staticmethod
    def key(window: Window, by: str | None, only: dict[str, str | None], anomalies: bool) -> Key:
        return (window, by, tuple(sorted(only.items())), anomalies)

    def _keys_of(self, w: Window | None) -> set[Key]:
        """The keys of the reports the refresher makes for a live window."""
        if w is None:
            return set()
        return {self.key(w, None, ROOT, True), self.key(w, "hour", ROOT, True),
                self.key(before(w), None, ROOT, False)}  # fmt: skip

    def _live_keys(self) -> set[Key]:
        """The live window's reports and the one's before it (a page that loaded just
        before the window moved still asks for them)."""
        return self._keys_of(self.live) | self._keys_of(self.was_live)

    def _current(self, key: Key, made: float) -> bool:
        """Whether a kept report may be served: for ``refresh_s`` seconds, and the live
        windows' for as long as they are live (the refresher makes the next ones)."""
        return time.monotonic() - made < self.refresh_s or key in self._live_keys()

    def _put(self, key: Key, report: Report, book: Book) -> None:
        """Keep a report: the most recent ``KEEP`` besides the live ones."""
        self._cache.pop(key, None)
        self._cache[key] = (time.monotonic(), report, book)
        live = self._live_keys()
        for old in [k for k in self._cache if k not in live][: -KEEP or None]:
            del self._cache[old]
            self._locks.pop(old, None)

    async def compute(
        self,
        window: Window,
        by: str | None,
        only: dict[str, str | None],
        *,
        fresh: bool = False,
        anomalies: bool = True,
    ) -> tuple[Report, Book]:
        key = self.key(window, by, only, anomalies)
        hit = self._cache.get(key)
        if hit is not None and not fresh and self._current(key, hit[0]):
            return hit[1], hit[2]
        lock = self._locks.setdefault(key, asyncio.Lock())
        if hit is not None and lock.locked() and not fresh:
            return hit[1], hit[2]  # being recomputed: the last one, at once
        async with lock:
            hit = self._cache.get(key)
            if hit is not None and not fresh and self._current(key, hit[0]):
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
                    anomalies=anomalies,
                    recent=self.recent,
                )
            )
            report = report.model_copy(update={"generated_at": _now_iso()})
            self._put(key, report, analysis)
            return report, analysis

    async def live_report(self, by: str | None, only: dict[str, str | None]) -> tuple[Report, Book]:
        """The report of the default window: the live one the refresher keeps, at once,
        while the refresher is current; otherwise computed now."""
        self.watched = time.monotonic()
        if self.live is not None:
            hit = self._cache.get(self.key(self.live, by, only, True))
            # While the refresher works, the live report is at most one of its periods old
            # (a cycle and its rest); after it rested, older.
            limit = max(self.idle_after_s, 2 * self.refresh_s + 4 * self.cycle_s)
            if hit is not None and time.monotonic() - hit[0] < limit:
                return hit[1], hit[2]
        return await self.compute(self.default_window(), by, only)

    async def refresh_live(self) -> None:
        """Make everything the overview of the window up to now asks for, then make that
        window the live one (see the module's text)."""
        started = time.monotonic()
        window = self.default_window()
        report, book = await self.compute(window, "hour", ROOT, fresh=True)
        await self.compute(before(window), None, ROOT, fresh=True, anomalies=False)
        if self.plant is not None and self.plant.reasons:
            await self.breakdowns(window, fresh=True)
        whole = replace(book, periods=[])
        plain = build(whole, plant=self.plant,
                      grid_factor=self.settings.analytics.grid_emission_factor)  # fmt: skip
        plain = plain.model_copy(update={"generated_at": report.generated_at})
        dropped, (self.was_live, self.live) = self.was_live, (self.live, window)
        for key in self._keys_of(dropped) - self._live_keys():
            self._cache.pop(key, None)
            self._locks.pop(key, None)
        self.stops = {w: v for w, v in self.stops.items() if w in (window, self.was_live)}
        self._put(self.key(window, None, ROOT, True), plain, whole)
        self.cycle_s = time.monotonic() - started

    async def breakdowns(
        self, window: Window, *, fresh: bool = False
    ) -> list[tuple[MachinePath, dict[str, Any]]]:
        """The whole plant's breakdowns that began in a window, each with its panel row
        (reason, who explained it), read from the window's readings in a worker thread and
        kept for ``refresh_s`` seconds."""
        from analytics.oee.accounts import machine_params
        from analytics.oee.reasons import LOOK_BACK_MS, panel_row, read_explained
        from analytics.oee.stops import breakdowns, of_readings

        plant = self.plant
        assert plant is not None
        live = (self.live, self.was_live)

        def current(made: float) -> bool:
            return time.monotonic() - made < self.refresh_s or window in live

        hit = self.stops.get(window)
        if hit is not None and not fresh and current(hit[0]):
            return hit[1]
        async with self._locks.setdefault(("stops", window), asyncio.Lock()):
            hit = self.stops.get(window)
            if hit is not None and not fresh and current(hit[0]):
                return hit[1]

            async def work() -> list[tuple[MachinePath, dict[str, Any]]]:
                reader = open_reader(self.settings.store_url, token=self.settings.influx_token)
                # The stops need no energy: the meters are not read.
                data = await reader.read(window.start_ms - HOUR_MS, window.end_ms, energy=False)
                params = machine_params(plant, self.settings.analytics.max_gap_s)
                found = breakdowns(of_readings(data, params, window), window)
                explained = {(e.path, e.start_ms): e for e in await read_explained(
                    reader, window.start_ms - LOOK_BACK_MS, window.end_ms)}  # fmt: skip
                return [(s.path, panel_row(s, explained.get((s.path, s.start_ms)),
                                           plant.generic_reasons)) for s in found]  # fmt: skip

            every = await in_worker_thread(work)
            keep = {self.live, self.was_live}
            for old in [w for w in self.stops if w not in keep][:-KEEP]:
                del self.stops[old]
                self._locks.pop(("stops", old), None)
            self.stops[window] = (time.monotonic(), every)
            return every

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

    async def outlook(
        self, at: int | None, *, make: bool = False
    ) -> tuple[Outlook | None, dict[str, Any]]:
        """The energy outlook from ``at`` (default now) and its JSON answer, with forecast
        against actual for the two days before it. Made at most once per 15-minute origin
        and ``forecast.every_s`` (what `factory aggregate` stores it at), however many
        pages ask meanwhile (one computes, the others wait for it): a forecast reads weeks
        of history. The current one (``at`` None) is the newest the forecaster made, at
        once (``make``: the forecaster's call, which makes it when due). Without a plant
        model, or without enough metered history: None and ``{"unavailable": why}``."""
        from core.clock import floor_block

        if self.plant is None:
            return None, {"unavailable": "the forecast needs a plant model (factory serve --plant)"}
        if at is None and not make and self.newest is not None:
            return self.newest
        origin = floor_block(at if at is not None else self.now_ms())
        keep_s = max(self.refresh_s, self.settings.forecast.every_s)
        hit = self._forecasts.get(origin)
        if hit is not None and time.monotonic() - hit[0] < keep_s:
            return hit[1], hit[2]
        async with self._locks.setdefault(("forecast", origin), asyncio.Lock()):
            hit = self._forecasts.get(origin)
            if hit is not None and time.monotonic() - hit[0] < keep_s:
                return hit[1], hit[2]
            made = await self._make_outlook(origin)
        if at is None:
            self.newest = made
        return made

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
        """Keep the live view ready (:meth:`refresh_live`) every ``refresh_s`` seconds, or
        twice as long as a cycle takes (at most a third of the time is spent on it);
        resting while nobody looks."""
        while True:
            await asyncio.sleep(max(self.refresh_s, 2 * self.cycle_s))
            if time.monotonic() - self.watched < self.idle_after_s or self.live is None:
                try:
                    await self.refresh_live()
                except Exception as exc:  # the store may be away: keep serving what we have
                    log.error("refresh failed: %s", exc)

    async def forecaster(self) -> None:
        """Keep the current forecast made (:meth:`outlook`: a new one per 15-minute origin
        and ``forecast.every_s``), apart from the refresher so that a forecast, which reads
        weeks of history, never holds up the live window; resting while nobody looks."""
        if self.plant is None:
            return
        while True:
            await asyncio.sleep(self.refresh_s)
            if time.monotonic() - self.watched < self.idle_after_s:
                try:
                    await self.outlook(None, make=True)
                except Exception as exc:  # the store may be away: keep the last one
                    log.error("forecast failed: %s", exc)


def before(w: Window) -> Window:
    """The window of the same length just before ``w`` (the overview's comparison)."""
    return Window(2 * w.start_ms - w.end_ms, w.start_ms)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


DASH = web.AppKey("dashboard", Dashboard)
