"""Compute the accounts of every machine, line, area and site over a window and its periods."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

from analytics.kpi import Kpi, Params, Timeline, Window, aggregate, build_timeline
from analytics.reader import MachineData, Reader
from telemetry.plant import Plant
from telemetry.topic import MachinePath

DEFAULT_MAX_GAP_S = 60.0
By = Literal["shift", "day", "hour"]


@dataclass(frozen=True, slots=True)
class Period:
    label: str
    """e.g. ``2026-01-05 morning``, ``2026-01-05``, ``2026-01-05 08:00``."""
    window: Window


@dataclass(slots=True)
class Analysis:
    """Machine accounts over the window and over each period; groups are sums of machines."""

    window: Window
    machines: dict[MachinePath, Kpi]
    periods: list[tuple[Period, dict[MachinePath, Kpi]]] = field(default_factory=list)
    data: dict[MachinePath, MachineData] = field(default_factory=dict, repr=False)
    meters: dict[MachinePath, MachineData] = field(default_factory=dict, repr=False)
    """Energy-only devices (main meters): no telemetry."""


def machine_params(plant: Plant | None, max_gap_s: float) -> Callable[[MachinePath], Params]:
    """The reading parameters of each machine: from the plant model where it knows it."""
    if plant is None:
        default = Params(max_gap_s=max_gap_s)
        return lambda _path: default
    base = Params(
        max_gap_s=max_gap_s,
        micro_stop_threshold_s=plant.micro_stop_threshold_s,
        calendar=plant.calendar,
    )
    per = {
        path: Params(
            max_gap_s=max_gap_s,
            micro_stop_threshold_s=plant.micro_stop_threshold_s,
            startup_units=m.startup_units,
            calendar=plant.calendar,
            rollover_kwh=m.meter_rollover_kwh,
        )
        for path, m in plant.machines()
    }
    return lambda path: per.get(path, base)


def periods(window: Window, by: By | None, plant: Plant | None) -> list[Period]:
    """The shifts (from the plant calendar), days or clock hours in a window, clipped to it."""
    if by is None:
        return []
    if by == "shift":
        if plant is None:
            raise ValueError("--by shift needs the plant model (--plant or FACTORY_PLANT)")
        zone = ZoneInfo(plant.calendar.timezone)
        return [
            Period(f"{_local(a, zone):%Y-%m-%d} {name}", Window(a, b))
            for a, b, kind, name in plant.calendar.periods(window.start_ms, window.end_ms)
            if kind == "shift"
        ]
    zone = ZoneInfo(plant.calendar.timezone if plant else "UTC")
    step = dt.timedelta(days=1) if by == "day" else dt.timedelta(hours=1)
    start = _local(window.start_ms, zone)
    cursor = (
        start.replace(hour=0, minute=0, second=0, microsecond=0)
        if by == "day"
        else start.replace(minute=0, second=0, microsecond=0)
    )
    out = []
    while int(cursor.timestamp() * 1000) < window.end_ms:
        nxt = (cursor.replace(tzinfo=None) + step).replace(tzinfo=zone)
        a = max(int(cursor.timestamp() * 1000), window.start_ms)
        b = min(int(nxt.timestamp() * 1000), window.end_ms)
        if b > a:
            label = f"{cursor:%Y-%m-%d}" if by == "day" else f"{cursor:%Y-%m-%d %H:%M}"
            out.append(Period(label, Window(a, b)))
        cursor = nxt
    return out


def _local(ms: int, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, zone)


async def analyse(
    reader: Reader,
    window: Window,
    *,
    plant: Plant | None = None,
    by: By | None = None,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
) -> Analysis:
    """Read the window (with a margin on both sides) once, then account for each period."""
    params_of = machine_params(plant, max_gap_s)
    margin = params_of(MachinePath("_", "_", "_", "_")).lookback_ms
    data = await reader.read(window.start_ms - margin, window.end_ms + margin)
    split = periods(window, by, plant)
    result = Analysis(window=window, machines={}, periods=[(p, {}) for p in split], data=data)
    for path, d in data.items():
        if d.telemetry is None or len(d.telemetry.t_ms) == 0:
            if d.energy is not None:
                result.meters[path] = d
            continue
        timeline: Timeline = build_timeline(d.telemetry, d.energy, params_of(path))
        result.machines[path] = timeline.account(window, path)
        for period, kpis in result.periods:
            kpis[path] = timeline.account(period.window, path)
    return result


async def machine_kpis(
    reader: Reader,
    window: Window,
    *,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    plant: Plant | None = None,
) -> dict[MachinePath, Kpi]:
    """The account of every machine with telemetry over ``window``."""
    return (await analyse(reader, window, plant=plant, max_gap_s=max_gap_s)).machines


Level = Literal["line", "area", "site"]


def group(kpis: Mapping[MachinePath, Kpi], level: Level) -> dict[str, Kpi]:
    """Sum machines into lines (``site/area/line``), areas (``site/area``) or sites."""
    depth = {"site": 1, "area": 2, "line": 3}[level]
    groups: dict[str, list[Kpi]] = {}
    for path in sorted(kpis):
        key = "/".join((path.site, path.area, path.line)[:depth])
        groups.setdefault(key, []).append(kpis[path])
    return {k: aggregate(v) for k, v in groups.items()}
