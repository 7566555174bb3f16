"""Compute the KPIs of every machine in a window, from any reader."""

from __future__ import annotations

from analytics.kpi import Kpi, Window, machine_kpi
from analytics.reader import Reader
from telemetry.topic import MachinePath

DEFAULT_MAX_GAP_S = 60.0


async def machine_kpis(
    reader: Reader, window: Window, *, max_gap_s: float = DEFAULT_MAX_GAP_S
) -> dict[MachinePath, Kpi]:
    """KPIs per machine; readings up to ``max_gap_s`` before the window set its opening state."""
    lookback_ms = int(max_gap_s * 1000)
    data = await reader.read(window.start_ms - lookback_ms, window.end_ms)
    out = {}
    for path, d in data.items():
        if d.telemetry is None:
            continue
        out[path] = machine_kpi(path, d.telemetry, d.energy, window, max_gap_s=max_gap_s)
    return out
