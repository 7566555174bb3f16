"""Compute the accounts of every machine, line, area and site over a window and its periods."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np

from analytics.oee.accounts import Kpi, Params, Window, aggregate, machine_params
from analytics.oee.anomaly import HISTORY_MS, SIGNAL, Detector, Event
from analytics.oee.ledger import Entry, chains, machine_entry, meter_entry
from analytics.oee.timeline import Timeline, build_timeline
from core.clock import local
from plant.model import Plant
from store import Reader
from store.series import MachineData
from telemetry.models import RUN
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
    meters: dict[MachinePath, MachineData] = field(default_factory=dict, repr=False)
    """Energy-only devices (main meters): no telemetry."""
    timelines: dict[MachinePath, Timeline] = field(default_factory=dict, repr=False)
    events: list[Event] | None = None
    """Anomaly events that started in the window (None: not looked for)."""
    sensor_machines: int = 0
    """Machines that report the vibration sensor in the window."""
    alarms: dict[MachinePath, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    """(times, z) of each machine's anomaly alarms, from the history before the window on."""
    sensor_t: dict[MachinePath, np.ndarray] = field(default_factory=dict, repr=False)
    plant: Plant | None = None
    max_gap_s: float = 60.0
    detector: Detector | None = None

    def entries(self, window: Window) -> list[Entry]:
        """The entry of every machine and main meter with readings in a window (inside the
        one read); one with nothing in it has none (composing, missing time is no data)."""
        hours = [p.window for p in periods(window, "hour", self.plant)]
        gap = int(self.max_gap_s * 1000)
        merge = self.detector.merge_s if self.detector else 600.0
        out = [
            machine_entry(
                path,
                t,
                window,
                hours=hours,
                max_gap_ms=gap,
                alarms=self.alarms.get(path),
                sensor_t=self.sensor_t.get(path),
                merge_s=merge,
            )
            for path, t in sorted(self.timelines.items())
        ]
        out += [
            meter_entry(path, d.energy, window, max_gap_ms=gap)
            for path, d in sorted(self.meters.items())
            if d.energy is not None
        ]
        return [e for e in out if not e.empty]

    def accounts(self, window: Window) -> dict[MachinePath, Kpi]:
        """Every machine's account over another window (inside the one read)."""
        return {path: t.account(window, path) for path, t in self.timelines.items()}


def periods(window: Window, by: By | None, plant: Plant | None) -> list[Period]:
    """The shifts (from the plant calendar), days or clock hours in a window, clipped to it."""
    if by is None:
        return []
    if by == "shift":
        if plant is None:
            raise ValueError("--by shift needs the plant model (--plant or FACTORY_PLANT)")
        zone = ZoneInfo(plant.calendar.timezone)
        return [
            Period(f"{local(a, zone):%Y-%m-%d} {name}", Window(a, b))
            for a, b, kind, name in plant.calendar.periods(window.start_ms, window.end_ms)
            if kind == "shift"
        ]
    zone = ZoneInfo(plant.calendar.timezone if plant else "UTC")
    step = dt.timedelta(days=1) if by == "day" else dt.timedelta(hours=1)
    start = local(window.start_ms, zone)
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


def margins(plant: Plant | None, max_gap_s: float, *, anomalies: bool) -> tuple[int, int]:
    """(before, after): how far around a window :func:`analyse` reads, so that the state
    at its start, stops across its edges and (with ``anomalies``) the detector's history
    are known. The same distances, the other way round, are how far after and before a
    reading the accounts it changes can lie. They depend only on plant-wide settings."""
    threshold = plant.micro_stop_threshold_s if plant else Params().micro_stop_threshold_s
    lookback = Params(max_gap_s=max_gap_s, micro_stop_threshold_s=threshold).lookback_ms
    return (max(lookback, HISTORY_MS) if anomalies else lookback), lookback


async def analyse(
    reader: Reader,
    window: Window,
    *,
    plant: Plant | None = None,
    by: By | None = None,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    detector: Detector | None = None,
) -> Analysis:
    """Read the window (with a margin on both sides) once, then account for each period.

    With a ``detector``, vibration is read too (with hours of history before the window,
    the machine's normal) and the anomaly events that start in the window are kept."""
    params_of = machine_params(plant, max_gap_s)
    before, margin = margins(plant, max_gap_s, anomalies=detector is not None)
    data = await reader.read(window.start_ms - before, window.end_ms + margin)
    if plant is not None and plant.reasons:  # operators' reasons for stops
        from analytics.oee.reasons import LOOK_BACK_MS, apply, read_explained

        lo = window.start_ms - before - LOOK_BACK_MS
        data = apply(data, await read_explained(reader, lo, window.end_ms + margin), plant)
    split = periods(window, by, plant)
    result = Analysis(window=window, machines={}, periods=[(p, {}) for p in split],
                      plant=plant, max_gap_s=max_gap_s, detector=detector)  # fmt: skip
    for path, d in data.items():
        if d.telemetry is None or len(d.telemetry.t_ms) == 0:
            if d.energy is not None:
                result.meters[path] = d
            continue
        timeline: Timeline = build_timeline(d.telemetry, d.energy, params_of(path))
        result.timelines[path] = timeline
        result.machines[path] = timeline.account(window, path)
        for period, kpis in result.periods:
            kpis[path] = timeline.account(period.window, path)
    if detector is not None:
        result.events = []
        sensors = await reader.read_sensor(SIGNAL, window.start_ms - before, window.end_ms)
        for path, (t, v) in sorted(sensors.items()):
            md = data.get(path)
            if md is None or md.telemetry is None or len(md.telemetry.t_ms) == 0:
                continue
            k = np.searchsorted(md.telemetry.t_ms, t, side="right") - 1
            running = (k >= 0) & (md.telemetry.state[np.maximum(k, 0)] == RUN)
            at, z = detector.alarms(t, v, running)
            result.alarms[path] = (at, z)
            result.sensor_t[path] = np.asarray(t, dtype=np.int64)
            result.sensor_machines += _inside(result.sensor_t[path], window)
            result.events += [
                Event(path, SIGNAL, c.first_ms, c.last_ms, c.peak_z)
                for c in chains(at, z, window.start_ms, window.end_ms, detector.merge_s * 1000)
                if not c.joined
            ]
    return result


def _inside(t: np.ndarray, window: Window) -> bool:
    i, j = np.searchsorted(t, [window.start_ms, window.end_ms])
    return bool(j > i)


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
    groups: dict[str, list[Kpi]] = {}
    for path in sorted(kpis):
        groups.setdefault(path.key(level), []).append(kpis[path])
    return {k: aggregate(v) for k, v in groups.items()}


def pareto(reasons: Mapping[str, float]) -> list[dict[str, float | str]]:
    """Downtime by reason, largest first, with each reason's share and the running share."""
    total = sum(reasons.values())
    out: list[dict[str, float | str]] = []
    running = 0.0
    for reason, seconds in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        running += seconds
        out.append({"reason": reason, "minutes": seconds / 60,
                    "share": seconds / total if total else 0.0,
                    "cumulative_share": running / total if total else 0.0})  # fmt: skip
    return out


def flags(kpis: Mapping[MachinePath, Kpi]) -> list[str]:
    """What a person should check: impossible performance, missing data, missing meters."""
    out = []
    for path, k in sorted(kpis.items()):
        p = k.performance
        if k.performance_suspect and p is not None:
            out.append(
                f"{path}: performance {p * 100:.1f} % is above 100 %: its ideal cycle time "
                "is too long (reported as measured, not capped)"
            )
        window_s = k.window.seconds if k.window else 0.0
        if window_s and k.no_data_s > 0.05 * window_s:
            out.append(f"{path}: no data for {k.no_data_s / 60:.0f} min of the window")
        if k.energy_kwh is None:
            out.append(f"{path}: no energy meter readings")
    return out


def checks(found: Sequence[str]) -> list[dict[str, Any]]:
    """Flags (``path: finding``) grouped by finding, in the order each finding first appears;
    a flag without a path is its own finding."""
    out: dict[str, list[str]] = {}
    for flag in found:
        subject, sep, finding = flag.partition(": ")
        if not sep or "/" not in subject:
            subject, finding = "", flag
        out.setdefault(finding, [])
        if subject:
            out[finding].append(subject)
    return [{"finding": f, "subjects": sorted(s)} for f, s in out.items()]
