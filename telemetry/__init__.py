"""The wire: reading models, codec, topic grammar, URLs, Sparkplug B, line protocol and the
tables readings are stored in. It imports only ``core``.
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
