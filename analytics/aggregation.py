"""The aggregation (`factory aggregate`): the stored accounts of every hour and day kept
current from the change marks, and the KPI points of every period (table ``kpi``).

One KPI point per period (hour, shift or day) and level (machine, line, area, site,
plant), stamped with the period's start. Writing the same period again replaces its
points (same tags and time), so a period is recomputed when late data arrives: the
:class:`Aggregator` recomputes the hours that change marks reach, composes their days,
and writes both. :func:`run` is the service `factory aggregate` runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from analytics.config import AnalyticsSettings
from analytics.energy.cost import priced
from analytics.oee.accounts import Kpi, Window, aggregate
from analytics.oee.analysis import By, Level, Period, analyse, group, periods
from analytics.oee.anomaly import Detector
from analytics.oee.ledger import Entry, compose_all, to_json
from analytics.oee.stored import (
    ACCOUNT,
    SENTINEL,
    Changes,
    book_from_store,
    reach,
    read_found,
    whole,
)
from core.backoff import sleep_or_stop
from core.clock import DAY_MS, HOUR_MS
from core.metrics import Sample
from plant.model import Plant
from store import Store, StoreEndpoint, open_reader, opened
from store.base import BUCKET_MS, HOLD_MS
from store.errors import ReaderError, StoreError
from telemetry.layout import ALL, TAGS, FieldDef, Point, Table
from telemetry.topic import MachinePath

log = logging.getLogger("factory.aggregation")

# Computed KPIs, written by `factory aggregate` for dashboards: one point per period and
# level. Tags are those of machines plus ``level`` and ``period``; a group has "_all"
# in the tags below its level (a line's point: machine="_all").
KPI = Table(
    "kpi",
    (
        FieldDef("period_end_ms", "int"),
        FieldDef("availability", "float"),
        FieldDef("performance", "float"),
        FieldDef("quality", "float"),
        FieldDef("oee", "float"),
        FieldDef("planned_busy_s", "float"),
        FieldDef("run_s", "float"),
        FieldDef("no_data_s", "float"),
        FieldDef("breakdowns_s", "float"),
        FieldDef("setup_s", "float"),
        FieldDef("small_stops_s", "float"),
        FieldDef("reduced_speed_s", "float"),
        FieldDef("startup_rejects_s", "float"),
        FieldDef("production_rejects_s", "float"),
        FieldDef("total_count", "int"),
        FieldDef("good_count", "int"),
        FieldDef("energy_kwh", "float"),
        FieldDef("kwh_per_good_unit", "float"),
        FieldDef("idle_kwh", "float"),
        # With a tariff in the plant model: the machines' energy priced by time-of-use band
        # (in the tariff's currency; groups: sums of their machines, as energy_kwh), and
        # the kWh drawn in peak bands. Empty without a tariff.
        FieldDef("cost", "float"),
        FieldDef("cost_per_good_unit", "float"),
        FieldDef("peak_kwh", "float"),
    ),
    tags=(*TAGS, "level", "period"),
)

LATE_MS = 300_000
"""Readings stored more than this after their 5 minutes of device time ended are late."""


def _fields(
    k: Kpi, end_ms: int, priced: tuple[float, float] | None = None
) -> dict[str, int | float | None]:
    """A KPI point's fields; ``priced``: (cost, kWh at peak) with a tariff."""
    losses = k.losses_s
    money: dict[str, int | float | None] = {}
    if priced is not None:
        cost, peak_kwh = priced
        money = {
            "cost": cost,
            "cost_per_good_unit": cost / k.good_count if k.good_count else None,
            "peak_kwh": peak_kwh,
        }
    return {
        **money,
        "period_end_ms": end_ms,
        "availability": k.availability,
        "performance": k.performance,
        "quality": k.quality,
        "oee": k.oee,
        "planned_busy_s": k.planned_busy_s,
        "run_s": k.run_s,
        "no_data_s": k.no_data_s,
        "breakdowns_s": losses["breakdowns"],
        "setup_s": losses["setup"],
        "small_stops_s": losses["small_stops"],
        "reduced_speed_s": losses["reduced_speed"],
        "startup_rejects_s": losses["startup_rejects"],
        "production_rejects_s": losses["production_rejects"],
        "total_count": k.total_count,
        "good_count": k.good_count,
        "energy_kwh": k.energy_kwh,
        "kwh_per_good_unit": k.kwh_per_good_unit,
        "idle_kwh": k.idle_kwh if k.energy_by_state_kwh else None,
    }


def _tags(parts: Iterable[str], level: str, period: str) -> dict[str, str]:
    values = list(parts)
    values += [ALL] * (4 - len(values))
    return {"site": values[0], "area": values[1], "line": values[2], "machine": values[3],
            "level": level, "period": period}  # fmt: skip


def period_points(
    period: Period,
    kind: str,
    kpis: Mapping[MachinePath, Kpi],
    priced: Mapping[MachinePath, tuple[float, float]] | None = None,
) -> list[Point]:
    """The points of one period: each machine, then each line, area and site, then the
    plant (all sites). ``priced``: each machine's (cost, kWh at peak) when the plant has a
    tariff (:func:`analytics.energy.cost.priced`); a group's are the sums of its machines'."""
    w = period.window

    def money(paths: list[MachinePath]) -> tuple[float, float] | None:
        if priced is None:
            return None
        found = [priced[p] for p in paths if p in priced]
        return (sum(c for c, _ in found), sum(k for _, k in found))

    out = [
        Point(
            KPI,
            _tags((path.site, path.area, path.line, path.machine), "machine", kind),
            w.start_ms,
            _fields(k, w.end_ms, money([path])),
        )
        for path, k in sorted(kpis.items())
    ]
    levels: tuple[Level, ...] = ("line", "area", "site")
    for level in levels:
        for key, k in group(kpis, level).items():
            members = [p for p in kpis if p.key(level) == key]
            out.append(Point(KPI, _tags(key.split("/"), level, kind), w.start_ms,
                             _fields(k, w.end_ms, money(members))))  # fmt: skip
    if kpis:
        plant = _fields(aggregate(kpis.values()), w.end_ms, money(list(kpis)))
        out.append(Point(KPI, _tags([], "plant", kind), w.start_ms, plant))
    return out


@dataclass(slots=True)
class AggregationStats:
    passes: int = 0
    failed_passes: int = 0
    hours: int = 0
    late_hours: int = 0
    days: int = 0
    points: int = 0
    watermark_ms: int = 0
    """Every change marked before this is in the stored accounts."""
    pending_marks: int = 0
    last_pass_s: float = 0.0
    """How long the last pass took (wall time)."""

    def samples(self) -> list[Sample]:
        return [
            ("factory_aggregation_passes_total", "counter", "aggregation passes", self.passes),
            ("factory_aggregation_failed_passes_total", "counter",
             "aggregation passes that failed (store away)", self.failed_passes),
            ("factory_aggregation_hours_total", "counter", "hour accounts computed", self.hours),
            ("factory_aggregation_late_hours_total", "counter",
             "hour accounts recomputed because readings arrived late", self.late_hours),
            ("factory_aggregation_days_total", "counter", "day accounts composed", self.days),
            ("factory_aggregation_points_total", "counter", "points written", self.points),
            ("factory_aggregation_watermark_seconds", "gauge",
             "changes marked before this time are in the stored accounts",
             self.watermark_ms / 1000),
            ("factory_aggregation_pending_marks", "gauge",
             "change marks not yet accounted for", self.pending_marks),
            ("factory_aggregation_last_pass_seconds", "gauge",
             "how long the last pass took", self.last_pass_s),
        ]  # fmt: skip


def account_points(
    kind: str, computed_ms: int, window: Window, entries: list[Entry], *, anomalies: bool
) -> list[Point]:
    """The stored accounts of one period: each entry, and the sentinel that says the period
    was accounted (a period without readings has no entries) and whether anomaly alarms
    were looked for."""
    sentinel = json.dumps({"anomalies": anomalies})
    out = [
        Point(ACCOUNT, {**_path_tags(SENTINEL), "period": kind}, window.start_ms,
              {"end_ms": window.end_ms, "computed_ms": computed_ms, "entry": sentinel})
    ]  # fmt: skip
    for e in entries:
        out.append(
            Point(ACCOUNT, {**_path_tags(e.path), "period": kind}, window.start_ms,
                  {"end_ms": window.end_ms, "computed_ms": computed_ms, "entry": to_json(e)})
        )  # fmt: skip
    return out


def _path_tags(path: MachinePath) -> dict[str, str]:
    return {"site": path.site, "area": path.area, "line": path.line, "machine": path.machine}


class Aggregator:
    """Keeps the stored accounts (hours, days) and the ``kpi`` points current.

    Each pass reads the change marks that ingest wrote with the readings, recomputes the
    hours they reach (:mod:`analytics.oee.stored`) from raw readings, composes the days those
    hours belong to once all their hours are current, writes it all, and drops the marks
    it has accounted for. ``write`` recomputes a window whatever the marks say (backfill).
    """

    def __init__(
        self,
        endpoint: StoreEndpoint,
        *,
        token: SecretStr | None,
        plant: Plant | None,
        period: By,
        max_gap_s: float,
        anomaly_z: float | None = 8.0,
        span_hours: int = 6,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if period == "shift" and plant is None:
            raise ValueError("shift periods need the plant model")
        self.endpoint = endpoint
        self.token = token
        self.plant = plant
        self.period = period
        self.max_gap_s = max_gap_s
        self.detector = Detector(z=anomaly_z) if anomaly_z else None
        self.span_hours = span_hours
        self._clock = clock
        self.stats = AggregationStats()
        self.reader = open_reader(endpoint, token=token)
        before, after = reach(plant, max_gap_s, anomalies=self.detector is not None)
        self._reach = (before, after)

    def _hours(self, spans: list[tuple[int, int]], now_ms: int) -> list[Window]:
        """The clock hours that overlap ``spans`` and have begun."""
        out: dict[int, Window] = {}
        for a, b in spans:
            a, b = max(a, 0), min(b, now_ms)
            if b > a:
                for h in whole(Window(a - HOUR_MS, b + HOUR_MS), "hour", self.plant):
                    if h.start_ms < b and h.end_ms > a:
                        out[h.start_ms] = h
        return [out[k] for k in sorted(out)]

    async def write(self, window: Window) -> tuple[int, int]:
        """Recompute every hour that overlaps ``window`` (and its days); (hours, points)."""
        now = self.now_ms()
        hours = self._hours([(window.start_ms, window.end_ms)], now)
        changes = Changes(await self.reader.read_changes(0), *self._reach)
        async with opened(self.endpoint, token=self.token) as store:
            points = await self._account(store, hours, changes, late=set(), now_ms=now)
        return len(hours), points

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def pass_once(self) -> int:
        """One pass over the change marks; the number of hours recomputed."""
        started, timer = self.now_ms(), time.monotonic()
        marks = await self.reader.read_changes(0)
        changes = Changes(marks, *self._reach)
        hours = self._hours(changes.dirty(), started)
        # Readings of a bucket that came more than LATE_MS after it closed are late (a
        # mark is written HOLD_MS before it expires).
        late_spans = Changes(
            [(b, u) for b, u in marks if u - HOLD_MS > b + BUCKET_MS + LATE_MS], *self._reach
        ).dirty()
        late = {h.start_ms for h in hours
                if any(a < h.end_ms and b > h.start_ms for a, b in late_spans)}  # fmt: skip
        async with opened(self.endpoint, token=self.token) as store:
            await self._account(store, hours, changes, late=late, now_ms=started)
            if marks:
                await store.remove_changes(started)
        self.stats.passes += 1
        self.stats.last_pass_s = time.monotonic() - timer
        self.stats.watermark_ms = started
        self.stats.pending_marks = sum(1 for _, u in marks if u > started)
        return len(hours)

    async def _account(
        self, store: Store, hours: list[Window], changes: Changes, *, late: set[int], now_ms: int
    ) -> int:
        spans: list[list[Window]] = []
        for h in hours:
            if spans and spans[-1][-1].end_ms == h.start_ms and len(spans[-1]) < self.span_hours:
                spans[-1].append(h)
            else:
                spans.append([h])
        written = 0
        for span in spans:
            computed = self.now_ms()
            analysis = await analyse(
                self.reader, Window(span[0].start_ms, span[-1].end_ms), plant=self.plant,
                max_gap_s=self.max_gap_s, detector=self.detector,
            )  # fmt: skip
            points: list[Point] = []
            for h in span:
                entries = analysis.entries(h)
                points += account_points(
                    "hour", computed, h, entries, anomalies=self.detector is not None
                )
                kpis = {e.path: e.as_kpi() for e in entries if e.kpi is not None}
                label = periods(h, "hour", self.plant)[0].label
                money = priced({e.path: e.blocks for e in entries}, self.plant)
                points += period_points(Period(label, h), "hour", kpis, money)
            written += await store.write_points(points)
            self.stats.hours += len(span)
            self.stats.late_hours += sum(1 for h in span if h.start_ms in late)
        written += await self._days(store, hours, changes, now_ms)
        self.stats.points += written
        return written

    async def _days(self, store: Store, hours: list[Window], marks: Changes, now_ms: int) -> int:
        """Compose and write the days of ``hours`` that have ended and whose hours are all
        accounted and current; and the shifts, when those are the KPI periods."""
        days: dict[int, Window] = {}
        for h in hours:
            for d in whole(Window(h.start_ms - DAY_MS, h.end_ms + DAY_MS), "day",
                           self.plant):  # fmt: skip
                if d.start_ms <= h.start_ms < d.end_ms and d.end_ms <= now_ms:
                    days[d.start_ms] = d
        points: list[Point] = []
        for d in days.values():
            found = await read_found(self.reader, "hour", d.start_ms, d.end_ms)
            day_hours = whole(d, "hour", self.plant)
            anomalies = self.detector is not None
            if not all(found.usable(h, marks, anomalies=anomalies) for h in day_hours):
                continue
            computed = min(found.computed[h.start_ms] for h in day_hours)
            entries = list(
                compose_all([e for h in day_hours for e in found.entries[h.start_ms]], d,
                            merge_s=self.detector.merge_s if self.detector else 600.0).values()
            )  # fmt: skip
            points += account_points("day", computed, d, entries, anomalies=anomalies)
            kpis = {e.path: e.as_kpi() for e in entries if e.kpi is not None}
            money = priced({e.path: e.blocks for e in entries}, self.plant)
            points += period_points(periods(d, "day", self.plant)[0], "day", kpis, money)
            self.stats.days += 1
        if self.period == "shift" and self.plant is not None and hours:
            span = Window(hours[0].start_ms, min(hours[-1].end_ms, now_ms))
            around = Window(span.start_ms - DAY_MS, span.end_ms + DAY_MS)
            for shift in periods(around, "shift", self.plant):
                w = shift.window
                if w.end_ms <= span.start_ms or w.start_ms >= span.end_ms or w.start_ms >= now_ms:
                    continue
                w = Window(w.start_ms, min(w.end_ms, now_ms))
                book = await book_from_store(self.reader, w, plant=self.plant,
                                             max_gap_s=self.max_gap_s)  # fmt: skip
                money = priced({p: e.blocks for p, e in book.entries.items()}, self.plant)
                points += period_points(Period(shift.label, w), "shift", book.machines, money)
        return await store.write_points(points) if points else 0

    async def run_schedule(self, stop: asyncio.Event, *, every_s: float) -> None:
        """A pass every ``every_s`` seconds until ``stop`` is set; a failed pass (the store
        away) is logged and tried again next time."""
        while not stop.is_set():
            try:
                n = await self.pass_once()
                if n:
                    log.info("accounted %d hour(s) (%d late so far)", n, self.stats.late_hours)
            except (StoreError, ReaderError) as exc:
                self.stats.failed_passes += 1
                log.error("aggregation pass failed: %s", exc)
            await sleep_or_stop(stop, every_s)


async def run(stop: asyncio.Event, settings: AnalyticsSettings, plant: Plant | None) -> None:
    """The aggregation service of `factory aggregate`: a pass every
    ``analytics.kpi_every_s`` until ``stop``, with its /metrics on ``analytics.metrics_port``
    when one is set."""
    cfg = settings.analytics
    aggregator = Aggregator(settings.store_url, token=settings.influx_token, plant=plant,
                            period=cfg.kpi_period, max_gap_s=cfg.max_gap_s,
                            anomaly_z=cfg.anomaly_z)  # fmt: skip
    log.info("keeping the accounts of %s current every %.0f s", settings.store_url,
             cfg.kpi_every_s)  # fmt: skip
    metrics = None
    if cfg.metrics_port is not None:
        from core.metrics import MetricsServer

        token = cfg.metrics_token.get_secret_value() if cfg.metrics_token else None
        metrics = MetricsServer(host=cfg.metrics_host, port=cfg.metrics_port,
                                samples=aggregator.stats.samples, token=token)  # fmt: skip
        await metrics.start()
    try:
        await aggregator.run_schedule(stop, every_s=cfg.kpi_every_s)
    finally:
        if metrics is not None:
            await metrics.stop()
