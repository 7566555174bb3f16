"""Numpy analytics: OEE (ISO 22400-2) and energy intensity from stored telemetry."""

from analytics.kpi import Kpi, Window, aggregate, machine_kpi
from analytics.reader import EnergySeries, MachineData, TelemetrySeries, open_reader

__all__ = [
    "EnergySeries",
    "Kpi",
    "MachineData",
    "TelemetrySeries",
    "Window",
    "aggregate",
    "machine_kpi",
    "open_reader",
]
