"""Forecasts and the store: the history a forecast learns from (the 15-minute energy blocks
of the stored accounts, raw readings where no account is current), forecasts written as
points of ``telemetry.layout.FORECAST``, and the accuracy of past day-ahead forecasts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from analytics.accounts import Window
from analytics.book import Book, iso
from analytics.config import ForecastConfig
from analytics.forecast import DAY_MS, SLOT_MS, ForecastError, coverage, wape
from analytics.outlook import History, Outlook, PeakHours, outlook
from analytics.stored import book_from_store
from store import Reader
from store.base import ForecastRow
from telemetry.layout import ALL, FORECAST, Point
from telemetry.plan import Plan
from telemetry.plant import Plant
from telemetry.topic import MachinePath

IDLE_STATES = ("IDLE", "PLANNED_STOP")


def floor_block(ms: int) -> int:
    return ms // SLOT_MS * SLOT_MS


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


async def read_history(
    reader: Reader, plant: Plant, origin_ms: int, days: int, *, max_gap_s: float = 60.0
) -> History:
    """The ``days`` before ``origin_ms`` (a block start) from the store."""
    window = Window(origin_ms - days * DAY_MS, origin_ms)
    book = await book_from_store(reader, window, plant=plant, max_gap_s=max_gap_s)
    lines, sites = blocks_of(book, plant)
    return History(window.start_ms, lines, sites, idle_kw(book))


def _tags(kind: str, name: str) -> dict[str, str] | None:
    if kind == "site":
        return {"site": name, "area": ALL, "line": ALL, "machine": ALL}
    if kind == "line":
        site, area, line = name.split("/")
        return {"site": site, "area": area, "line": line, "machine": ALL}
    return None


def _day_start(ms: int, zone: ZoneInfo) -> int:
    day = dt.datetime.fromtimestamp(ms / 1000, zone).date()
    return int(dt.datetime.combine(day, dt.time(), zone).timestamp() * 1000)


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
            if _day_start(start, zone) > issued_ms:
                points.append(Point(FORECAST, {**tags, "run": "day_ahead"}, start, fields))
    return points


def _name(path: MachinePath) -> tuple[str, str]:
    if path.area == ALL:
        return "site", path.site
    return "line", path.key("line")


async def accuracy(reader: Reader, plant: Plant, window: Window, *, max_gap_s: float = 60.0
                   ) -> list[dict[str, Any]]:  # fmt: skip
    """How the stored day-ahead forecasts of ``window`` compare with what was metered."""
    rows = await reader.read_forecasts("day_ahead", window.start_ms, window.end_ms)
    if not rows:
        return []
    start = floor_block(window.start_ms)
    book = await book_from_store(reader, Window(start, window.end_ms), plant=plant,
                                 max_gap_s=max_gap_s)  # fmt: skip
    lines, sites = blocks_of(book, plant)
    for site in plant.sites:
        if site.name not in sites:
            mine = [v for k, v in lines.items() if k.split("/")[0] == site.name]
            if mine:
                sites[site.name] = np.sum(mine, axis=0)
    by_target: dict[tuple[str, str], list[ForecastRow]] = {}
    for r in rows:
        by_target.setdefault(_name(r.path), []).append(r)
    out = []
    for (kind, name), mine_rows in sorted(by_target.items()):
        actual_all = (sites if kind == "site" else lines).get(name)
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


def series(rows: Sequence[ForecastRow], kind: str, name: str) -> list[list[float]]:
    """[start_ms, p10, p50, p90] of one target's stored rows."""
    return [
        [r.start_ms, r.p10_kw, r.p50_kw, r.p90_kw] for r in rows if _name(r.path) == (kind, name)
    ]


async def make_outlook(
    reader: Reader,
    plant: Plant,
    origin_ms: int,
    *,
    config: ForecastConfig,
    plan: Plan | None = None,
    history_days: int | None = None,
    max_gap_s: float = 60.0,
) -> Outlook:
    """The outlook from ``origin_ms`` (floored to a block) on what the store holds."""
    origin = floor_block(origin_ms)
    days = history_days or config.history_days
    history = await read_history(reader, plant, origin, days, max_gap_s=max_gap_s)
    if not history.lines and not history.sites:
        raise ForecastError(
            f"no metered energy in the {days} days before {iso(origin)}: the forecast "
            "learns from the machines' and main meters' energy readings; run the ingest "
            "service (and `factory kpi`) for a day first, or choose another time with --at"
        )
    peak = PeakHours(config.bands(), config.peak_days)
    return outlook(plant, history, plan=plan, peak=peak, warn_share=config.demand_warning_share)
