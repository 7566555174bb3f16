"""Forecasts and the store: the history a forecast learns from (the 15-minute energy blocks
of the stored accounts, raw readings where no account is current), forecasts written as
points of :data:`FORECAST`, and the accuracy of past day-ahead forecasts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from analytics.config import AnalyticsSettings, ForecastConfig
from analytics.forecast.model import DAY_SLOTS, SLOT_MS, ForecastError, coverage, wape
from analytics.forecast.outlook import History, Outlook, PeakHours, metered, outlook
from analytics.oee.accounts import Window
from analytics.oee.book import Book
from analytics.oee.stored import book_from_store
from core.clock import DAY_MS, floor_block, iso, local_midnight
from plant.model import Plant
from plant.plan import Plan
from store import Reader, open_reader, opened
from store.base import Store
from telemetry.layout import ALL, TAGS, FieldDef, Point, Table
from telemetry.topic import MachinePath

IDLE_STATES = ("IDLE", "PLANNED_STOP")
log = logging.getLogger("factory.forecast")

# Energy load forecasts (`factory forecast --save`, `factory aggregate`): one point per target and
# 15-minute block (its start). Tags are those of machines plus ``run``: a line's target has
# machine="_all", a site's area, line and machine "_all" (as KPI points), and ``run`` is
# "latest" (the newest forecast of the block) or "day_ahead" (the last one issued before the
# block's local day began: what the accuracy of past forecasts is measured on).
FORECAST = Table(
    "forecast",
    (
        FieldDef("p10_kw", "float"),
        FieldDef("p50_kw", "float"),
        FieldDef("p90_kw", "float"),
        FieldDef("issued_ms", "int"),
    ),
    tags=(*TAGS, "run"),
    key=("run", "ts", *TAGS),
)


def blocks_of(book: Book, plant: Plant) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Mean power per 15-minute block of the book's window: each line (its machines summed;
    NaN where one that reported in the window has no value) and each main meter."""
    start = book.window.start_ms
    n = (book.window.end_ms - start) // SLOT_MS
    per_line: dict[str, list[np.ndarray]] = {}
    sites: dict[str, np.ndarray] = {}
    meters = {p: s.name for s in plant.sites if (p := s.main_meter_path()) is not None}
    for path, entry in book.entries.items():
        kw = np.full(n, np.nan)
        for t, kwh in entry.blocks:
            k = (t - start) // SLOT_MS
            if 0 <= k < n:
                kw[k] = kwh * 3.6e6 / SLOT_MS
        if entry.kpi is None:
            if path in meters:
                sites[meters[path]] = kw
        elif not np.isnan(kw).all():
            per_line.setdefault(path.key("line"), []).append(kw)
    lines = {k: np.sum(v, axis=0) for k, v in per_line.items()}
    return lines, sites


def idle_kw(book: Book) -> dict[str, float]:
    """Per line: the power its machines drew while idle or on a break, per planned hour."""
    energy: dict[str, float] = {}
    planned: dict[str, list[float]] = {}
    for path, kpi in book.machines.items():
        key = path.key("line")
        energy[key] = energy.get(key, 0.0) + sum(
            kpi.energy_by_state_kwh.get(s, 0.0) for s in IDLE_STATES
        )
        planned.setdefault(key, []).append(kpi.planned_busy_s)
    return {
        k: energy[k] * 3600 / float(np.mean(v))
        for k, v in planned.items()
        if float(np.mean(v)) > 0 and energy[k] > 0
    }


def _tags(kind: str, name: str) -> dict[str, str] | None:
    if kind == "site":
        return {"site": name, "area": ALL, "line": ALL, "machine": ALL}
    if kind == "line":
        site, area, line = name.split("/")
        return {"site": site, "area": area, "line": line, "machine": ALL}
    return None


def forecast_points(outlook: Outlook, issued_ms: int) -> list[Point]:
    """Every site's and line's blocks as ``latest``; those of a local day that had not begun
    when the forecast was issued as ``day_ahead`` too (a later forecast replaces them until
    the day begins)."""
    zone = ZoneInfo(outlook.plant.calendar.timezone)
    points = []
    for t in outlook.targets:
        tags = _tags(t.kind, t.name)
        if tags is None:
            continue
        for k in range(t.q.shape[0]):
            start = t.start_ms + k * SLOT_MS
            p10, p50, p90 = (round(float(v), 3) for v in t.q[k])
            fields = {"p10_kw": p10, "p50_kw": p50, "p90_kw": p90, "issued_ms": issued_ms}
            points.append(Point(FORECAST, {**tags, "run": "latest"}, start, fields))
            if local_midnight(start, zone) > issued_ms:
                points.append(Point(FORECAST, {**tags, "run": "day_ahead"}, start, fields))
    return points


def _name(path: MachinePath) -> tuple[str, str]:
    if path.area == ALL:
        return "site", path.site
    return "line", path.key("line")


@dataclass(frozen=True, slots=True)
class ForecastRow:
    """A stored forecast of one block."""

    path: MachinePath
    start_ms: int
    p10_kw: float
    p50_kw: float
    p90_kw: float
    issued_ms: int


async def stored_forecasts(reader: Reader, run: str, start_ms: int, end_ms: int
                           ) -> list[ForecastRow]:  # fmt: skip
    """The forecasts of ``run`` ("latest", "day_ahead") stored for blocks in [start, end)."""
    if run not in ("latest", "day_ahead"):
        raise ValueError(f"no forecast run {run!r}")
    return [
        ForecastRow(MachinePath(*(r.tags[t] for t in TAGS)), r.ts_ms, float(r.fields["p10_kw"]),
                    float(r.fields["p50_kw"]), float(r.fields["p90_kw"]),
                    int(r.fields["issued_ms"]))
        for r in await reader.read_rows(FORECAST, start_ms, end_ms, {"run": run})
    ]  # fmt: skip


async def accuracy(reader: Reader, plant: Plant, window: Window, *, max_gap_s: float = 60.0
                   ) -> list[dict[str, Any]]:  # fmt: skip
    """How the stored day-ahead forecasts of ``window`` compare with what was metered."""
    rows = await stored_forecasts(reader, "day_ahead", window.start_ms, window.end_ms)
    if not rows:
        return []
    start = floor_block(window.start_ms)
    book = await book_from_store(reader, Window(start, window.end_ms), plant=plant,
                                 max_gap_s=max_gap_s)  # fmt: skip
    lines, sites = blocks_of(book, plant)
    by_target: dict[tuple[str, str], list[ForecastRow]] = {}
    for r in rows:
        by_target.setdefault(_name(r.path), []).append(r)
    out = []
    for (kind, name), mine_rows in sorted(by_target.items()):
        actual_all = metered(kind, name, lines, sites)
        if actual_all is None:
            continue
        k = np.array([(r.start_ms - start) // SLOT_MS for r in mine_rows])
        inside = (k >= 0) & (k < len(actual_all))
        q = np.array([[r.p10_kw, r.p50_kw, r.p90_kw] for r in mine_rows])[inside]
        actual = actual_all[k[inside]]
        ok = ~np.isnan(actual)
        if not ok.any():
            continue
        out.append({
            "kind": kind, "name": name, "blocks": int(ok.sum()),
            "wape": round(wape(actual[ok], q[ok, 1]), 4),
            "coverage_80": round(coverage(actual[ok], q[ok]), 3),
            "actual_kwh": round(float(actual[ok].sum()) * SLOT_MS / 3.6e6, 1),
            "forecast_kwh": round(float(q[ok, 1].sum()) * SLOT_MS / 3.6e6, 1),
        })  # fmt: skip
    return out


async def make_outlook(
    reader: Reader,
    plant: Plant,
    origin_ms: int,
    *,
    config: ForecastConfig,
    plan: Plan | None = None,
    history_days: int | None = None,
    max_gap_s: float = 60.0,
    past_days: int = 0,
) -> tuple[Outlook, dict[str, Any]]:
    """The outlook from ``origin_ms`` (floored to a block) on what the store holds; with
    ``past_days``, also forecast against actual for those days before the origin: each
    block as forecast at most 24 hours ahead (from the same time of day before it, on the
    history before that), next to what was metered."""
    origin = floor_block(origin_ms)
    days = history_days or config.history_days
    start = origin - (days + past_days) * DAY_MS
    book = await book_from_store(reader, Window(start, origin), plant=plant, max_gap_s=max_gap_s)
    lines, sites = blocks_of(book, plant)
    if not lines and not sites:
        raise ForecastError(
            f"no metered energy in the {days} days before {iso(origin)}: the forecast "
            "learns from the machines' and main meters' energy readings; run the ingest "
            "service for a day first, or choose another time (--at)"
        )
    full = History(start, lines, sites, idle_kw(book))
    peak = (PeakHours.of_tariff(plant.tariff) if plant.tariff is not None
            else PeakHours(config.bands(), config.peak_days))  # fmt: skip
    n = full.blocks
    day = DAY_SLOTS

    def made(upto: int) -> Outlook:
        return outlook(plant, full.part(max(0, upto - days * day), upto), plan=plan, peak=peak,
                       warn_share=config.demand_warning_share)  # fmt: skip

    now = made(n)
    past: dict[str, Any] = {}
    if past_days:
        earlier = [made(n - d * day) for d in range(past_days, 0, -1) if n - d * day >= day // 2]
        for t in now.targets:
            actual = metered(t.kind, t.name, lines, sites)
            if actual is None:
                continue
            q = [x.q for o in earlier for x in o.targets if (x.kind, x.name) == (t.kind, t.name)]
            first = n - len(q) * day
            past[f"{t.kind} {t.name}"] = {
                "actual": [[start + k * SLOT_MS, None if v != v else round(float(v), 2)]
                           for k, v in enumerate(actual[first:], start=first)],
                "forecast": [[start + (first + k) * SLOT_MS, *(round(float(v), 2) for v in row)]
                             for k, row in enumerate(np.concatenate(q) if q else [])],
            }  # fmt: skip
    return now, past


async def save_forecast(store: Store, reader: Reader, plant: Plant, now_ms: int, *,
                        config: ForecastConfig, plan: Plan | None = None,
                        max_gap_s: float = 60.0) -> int:  # fmt: skip
    """Forecast from now and store it; the number of points written."""
    made, _ = await make_outlook(reader, plant, now_ms, config=config, plan=plan,
                                 max_gap_s=max_gap_s)  # fmt: skip
    return await store.write_points(forecast_points(made, now_ms))


async def forecast_schedule(stop: asyncio.Event, store: Store, reader: Reader, plant: Plant, *,
                            config: ForecastConfig, plan: Plan | None = None,
                            max_gap_s: float = 60.0) -> None:  # fmt: skip
    """Store a forecast every ``config.every_s`` seconds until ``stop`` (what `factory aggregate`
    runs beside the aggregation); a forecast that cannot be made is logged and retried."""
    while not stop.is_set():
        try:
            n = await save_forecast(store, reader, plant, int(time.time() * 1000), config=config,
                                    plan=plan, max_gap_s=max_gap_s)  # fmt: skip
            log.info("stored a forecast (%d points)", n)
        except ForecastError as exc:
            log.warning("no forecast: %s", exc)
        except Exception as exc:  # the store may be away: try again next time
            log.error("forecast failed: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), config.every_s)


async def run(stop: asyncio.Event, settings: AnalyticsSettings, plant: Plant | None) -> None:
    """The forecast service of `factory aggregate`: store a forecast every
    ``forecast.every_s`` until ``stop`` (at once without a plant model, or with ``every_s``
    0: off). The plan is read at start (:class:`plant.plan.PlanError` if it cannot be)."""
    fc = settings.forecast
    if plant is None or fc.every_s <= 0:
        return
    plan = fc.plan_for(plant)
    async with opened(settings.store_url, token=settings.influx_token) as store:
        reader = open_reader(settings.store_url, token=settings.influx_token)
        await forecast_schedule(stop, store, reader, plant, config=fc, plan=plan,
                                max_gap_s=settings.analytics.max_gap_s)  # fmt: skip
