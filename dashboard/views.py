"""What the dashboard's pages need besides the report: the windows a user can pick (shift-aware
with a plant model), the OEE targets, and one machine's page (timeline, stops, power curve,
sensor trace). Pure functions of the plant model, a timeline and series; `factory serve`
wires them to the API."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from analytics.oee.accounts import Window
from analytics.oee.stops import of_timeline
from analytics.oee.timeline import Timeline
from core.clock import DAY_MS, local_midnight
from core.i18n import N_
from plant.model import Plant
from telemetry.topic import MachinePath

WORLD_CLASS_OEE = 0.85
"""The OEE target of a line the plant model gives none (world class)."""
MAX_POINTS = 720
"""Points of a curve sent to the page at most (a minute each over 12 hours)."""


def presets(plant: Plant | None, now_ms: int, default: Window) -> list[dict[str, Any]]:
    """The windows offered on the page, newest last: ``id``, ``label``, ``from_ms``, ``to_ms``.

    Days and weeks are the plant's local days (its calendar's time zone; UTC without a
    model); shifts come from its calendar: the current one (up to now) and the previous
    one. Windows that would end after ``now_ms`` end at it."""
    zone = ZoneInfo(plant.calendar.timezone if plant is not None else "UTC")
    out: list[dict[str, Any]] = []

    def add(id_: str, text: str, start: int, end: int, name: str = "") -> None:
        """``text``: the label's message (the page translates it), ``{name}`` the shift's."""
        end = min(end, now_ms)
        if end > start:
            label = text.format(name=name)
            out.append({"id": id_, "label": label, "text": text, "name": name,
                        "from_ms": start, "to_ms": end})  # fmt: skip

    add("default", N_("Live window"), default.start_ms, default.end_ms)
    if plant is not None:
        shifts = [
            (a, b, name)
            for a, b, kind, name in plant.calendar.periods(now_ms - 3 * DAY_MS, now_ms + DAY_MS)
            if kind == "shift" and a <= now_ms
        ]
        shifts.sort()
        if shifts:
            a, b, name = shifts[-1]
            text = N_("Current shift ({name})") if b > now_ms else N_("Last shift ({name})")
            add("current_shift", text, a, b, name)
        if len(shifts) > 1:
            a, b, name = shifts[-2]
            add("previous_shift", N_("Previous shift ({name})"), a, b, name)
    today = local_midnight(now_ms, zone)
    add("today", N_("Today"), today, now_ms)
    add("yesterday", N_("Yesterday"), local_midnight(now_ms, zone, 1), today)
    weekday = dt.datetime.fromtimestamp(now_ms / 1000, zone).weekday()
    add("this_week", N_("This week"), local_midnight(now_ms, zone, weekday), now_ms)
    add("last_7_days", N_("Last 7 days"), now_ms - 7 * DAY_MS, now_ms)
    add("last_30_days", N_("Last 30 days"), now_ms - 30 * DAY_MS, now_ms)
    return out


def targets(plant: Plant | None) -> dict[str, float]:
    """The OEE target of every line (``site/area/line``) the plant model names."""
    if plant is None:
        return {}
    return {
        key: line.oee_target if line.oee_target is not None else WORLD_CLASS_OEE
        for key, line in plant.line_models().items()
    }


def thin(t: np.ndarray, v: np.ndarray, window: Window) -> list[list[float]]:
    """``(t, v)`` inside the window as at most :data:`MAX_POINTS` [ms, value] pairs: the mean
    of each slice (a curve to look at, not to compute with)."""
    i, j = np.searchsorted(t, [window.start_ms, window.end_ms])
    t, v = t[i:j], v[i:j].astype(float)
    keep = np.isfinite(v)
    t, v = t[keep], v[keep]
    if len(t) > MAX_POINTS:
        edges = np.linspace(0, len(t), MAX_POINTS + 1).astype(int)
        t = t[edges[:-1]]
        v = np.add.reduceat(v, edges[:-1]) / np.diff(edges)
    return [[int(a), round(float(b), 4)] for a, b in zip(t.tolist(), v.tolist(), strict=True)]


def stops(timeline: Timeline, path: MachinePath, window: Window) -> list[dict[str, Any]]:
    """The machine's stops and setups in the window (:mod:`analytics.oee.stops`, cut to the
    window), longest first."""
    out = [
        {"start_ms": s.start_ms, "end_ms": s.end_ms, "state": s.state, "reason": s.reason,
         "loss": s.loss, "minutes": round(s.minutes, 2)}
        for s in (s.clipped(window) for s in of_timeline(timeline, path, window))
    ]  # fmt: skip
    return sorted(out, key=lambda s: (-s["minutes"], s["start_ms"]))


def machine_page(
    timeline: Timeline,
    path: MachinePath,
    window: Window,
    sensor: tuple[np.ndarray, np.ndarray] | None,
) -> dict[str, Any]:
    """One machine's page: its runs, stops, power curve and sensor trace in the window."""
    runs = timeline.runs(window)
    power: list[list[float]] = []
    if timeline.e_time is not None and timeline.e_power is not None:
        power = thin(timeline.e_time[:-1], timeline.e_power, window)  # power of each piece
    return {
        "runs": runs,
        "stops": stops(timeline, path, window),
        "power_kw": power,
        "vibration_mm_s": thin(*sensor, window) if sensor is not None else [],
    }
