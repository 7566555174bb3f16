"""KPI write-back: the accounts of every period as points of the ``kpi`` table/measurement.

One point per period (hour, shift or day) and level (machine, line, area, site,
plant), stamped with the period's start. Writing the same period again replaces
its points (same tags and time), so a period can be recomputed when late data
arrives; `factory kpi` recomputes the current and the previous period each time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from analytics.kpi import Kpi, aggregate
from analytics.report import Analysis, Level, Period, group
from telemetry.layout import ALL, KPI, Point
from telemetry.topic import MachinePath


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
