"""KPI write-back: the accounts of every period as points of the ``kpi`` table/measurement.

One point per period (hour, shift or day) and level (machine, line, area, site,
plant), stamped with the period's start. Writing the same period again replaces
its points (same tags and time), so a period can be recomputed when late data
arrives; :class:`KpiWriter` (`factory kpi`) recomputes the current and the
previous period each time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping

from pydantic import SecretStr

from analytics.accounts import Kpi, Window, aggregate
from analytics.analysis import Analysis, By, Level, Period, analyse, group, periods
from store import StoreEndpoint, open_reader, open_store
from store.errors import ReaderError, StoreError
from telemetry.backoff import sleep_or_stop
from telemetry.layout import ALL, KPI, Point
from telemetry.plant import Plant
from telemetry.topic import MachinePath

log = logging.getLogger("factory.kpi")


def _fields(k: Kpi, end_ms: int) -> dict[str, int | float | None]:
    losses = k.losses_s
    return {
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


def period_points(period: Period, kind: str, kpis: Mapping[MachinePath, Kpi]) -> list[Point]:
    """The points of one period: each machine, then each line, area and site, then the
    plant (all sites)."""
    w = period.window
    out = [
        Point(
            KPI,
            _tags((path.site, path.area, path.line, path.machine), "machine", kind),
            w.start_ms,
            _fields(k, w.end_ms),
        )
        for path, k in sorted(kpis.items())
    ]
    levels: tuple[Level, ...] = ("line", "area", "site")
    for level in levels:
        for key, k in group(kpis, level).items():
            out.append(Point(KPI, _tags(key.split("/"), level, kind), w.start_ms,
                             _fields(k, w.end_ms)))  # fmt: skip
    if kpis:
        out.append(Point(KPI, _tags([], "plant", kind), w.start_ms,
                         _fields(aggregate(kpis.values()), w.end_ms)))  # fmt: skip
    return out


def kpi_points(analysis: Analysis, kind: str) -> list[Point]:
    """Every point of an analysis made with ``by=kind``."""
    return [p for period, kpis in analysis.periods for p in period_points(period, kind, kpis)]


class KpiWriter:
    """Computes the accounts of periods from the store's readings and writes them back.

    ``write`` does one window; ``run_schedule`` recomputes the current and the previous
    period every ``every_s`` seconds until stopped (late data is taken in).
    """

    def __init__(
        self,
        endpoint: StoreEndpoint,
        *,
        token: SecretStr | None,
        plant: Plant | None,
        period: By,
        max_gap_s: float,
    ) -> None:
        if period == "shift" and plant is None:
            raise ValueError("shift periods need the plant model")
        self.endpoint = endpoint
        self.token = token
        self.plant = plant
        self.period = period
        self.max_gap_s = max_gap_s

    def recent(self, now_ms: int) -> Window:
        """The current period and the one before it."""
        # Two of its lengths back is enough for hours and days; shifts come from the calendar.
        span = {"hour": 2 * 3_600_000, "day": 2 * 86_400_000, "shift": 2 * 86_400_000}[self.period]
        whole = periods(Window(now_ms - span, now_ms), self.period, self.plant)
        start = whole[-2].window.start_ms if len(whole) >= 2 else now_ms - span
        return Window(start, now_ms)

    async def write(self, window: Window) -> tuple[int, int]:
        """Compute the periods of ``window`` and write their points; (periods, points)."""
        analysis = await analyse(
            open_reader(self.endpoint, token=self.token),
            window,
            plant=self.plant,
            by=self.period,
            max_gap_s=self.max_gap_s,
        )
        points = kpi_points(analysis, self.period)
        store = open_store(self.endpoint, token=self.token)
        await store.open()
        try:
            written = await store.write_points(points)
        finally:
            await store.close()
        return len(analysis.periods), written

    async def run_schedule(self, stop: asyncio.Event, *, every_s: float) -> None:
        """A pass every ``every_s`` seconds until ``stop`` is set; a failed pass (the store
        away) is logged and tried again next time."""
        while not stop.is_set():
            try:
                n, written = await self.write(self.recent(int(time.time() * 1000)))
                log.info("wrote %d KPI points for %d %s period(s)", written, n, self.period)
            except (StoreError, ReaderError) as exc:
                log.error("KPI pass failed: %s", exc)
            await sleep_or_stop(stop, every_s)
