"""The contract every component shares: wire models, topics, line protocol, store layout.

This package is a leaf: it imports nothing else of ours.
"""

from telemetry.models import (
    Channel,
    EnergyReading,
    MachineState,
    Reading,
    StatusReading,
    TelemetryReading,
)
from telemetry.topic import MachinePath, Topic, TopicError

__all__ = [
    "Channel",
    "EnergyReading",
    "MachinePath",
    "MachineState",
    "Reading",
    "StatusReading",
    "TelemetryReading",
    "Topic",
    "TopicError",
]

__version__ = "0.1.0"
