"""Wire models: what a device sends, one reading object or an array of them.

Validation is strict on purpose: a counter sent as ``"12"`` or ``12.5``, a NaN,
an unknown key or a timestamp in seconds instead of milliseconds is rejected
with a reason, never coerced, so that a misconfigured device is noticed.
"""

from __future__ import annotations

import enum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# Epoch milliseconds between 2000-01-01 and 2100-01-01: a timestamp in seconds
# or microseconds falls outside and is rejected instead of stored in 1970.
MIN_TS_MS = 946_684_800_000
MAX_TS_MS = 4_102_444_800_000

NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
"""A topic level or any name that becomes a tag or field key."""

EpochMillis = Annotated[int, Field(ge=MIN_TS_MS, le=MAX_TS_MS, description="UTC epoch ms")]
Sequence = Annotated[
    int,
    Field(ge=0, le=2**63 - 1, description="Per device and channel, increasing; proves no loss"),
]
Counter = Annotated[int, Field(ge=0, le=2**63 - 1)]


class Channel(enum.StrEnum):
    """The last topic level: what kind of reading the payload carries."""

    TELEMETRY = "telemetry"
    ENERGY = "energy"
    STATUS = "status"


class MachineState(enum.StrEnum):
    """Machine states; their order fixes the integer codes used by the analytics."""

    RUNNING = "RUNNING"
    IDLE = "IDLE"
    DOWN = "DOWN"
    SETUP = "SETUP"
    PLANNED_STOP = "PLANNED_STOP"
    OFF = "OFF"

    @property
    def code(self) -> int:
        return STATE_CODES[self]


STATES: tuple[MachineState, ...] = tuple(MachineState)
STATE_CODES: dict[MachineState, int] = {s: i for i, s in enumerate(STATES)}
STATE_NAMES: tuple[str, ...] = tuple(s.value for s in STATES)
"""State names by code."""
RUN, IDLE, DOWN, SETUP, PLANNED_STOP, OFF = (STATE_CODES[s] for s in STATES)
"""The integer code of each state, as numpy arrays of states hold them."""


class _Reading(BaseModel):
    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        str_max_length=256,
    )

    ts: EpochMillis
    seq: Sequence


class TelemetryReading(_Reading):
    """Machine state, cumulative counters and process sensors at one instant."""

    state: MachineState
    reason: Name | None = Field(
        default=None, description="Stop reason code, for IDLE, DOWN, SETUP and PLANNED_STOP"
    )
    total_count: Counter = Field(description="Cumulative units made (good and scrap)")
    good_count: Counter = Field(description="Cumulative good units")
    ideal_cycle_s: float | None = Field(
        default=None,
        gt=0,
        le=86_400,
        description="Ideal cycle time of the current product, seconds per unit",
    )
    product: Name | None = None
    sensors: dict[Name, float] | None = Field(
        default=None,
        max_length=64,
        description="Process sensor values by name, e.g. temperature_c, vibration_mm_s",
    )

    @model_validator(mode="after")
    def _good_within_total(self) -> TelemetryReading:
        # Good units are part of the units made: more good than made cannot be true, and
        # stored it would give a quality above 100 %.
        if self.good_count > self.total_count:
            raise ValueError(
                f"good_count {self.good_count} exceeds total_count {self.total_count}; "
                "good units are counted in the total (check the counter mapping)"
            )
        return self


class EnergyReading(_Reading):
    """An energy meter reading: instantaneous power and the cumulative register."""

    power_kw: float = Field(ge=-1e6, le=1e6)
    energy_kwh: float = Field(ge=0, le=1e12, description="Cumulative import register, kWh")
    power_factor: float | None = Field(default=None, ge=-1, le=1)
    voltage_v: float | None = Field(default=None, ge=0, le=1e6)


class StatusReading(_Reading):
    """Birth and last-will message of an edge agent for one machine (retained)."""

    online: bool
    agent: Name | None = Field(default=None, description="Edge agent client id")
    version: Annotated[str, StringConstraints(pattern=r"^[ -~]{1,64}$")] | None = Field(
        default=None, description="Agent version, printable ASCII"
    )


Reading = TelemetryReading | EnergyReading | StatusReading

MODEL_BY_CHANNEL: dict[Channel, type[TelemetryReading | EnergyReading | StatusReading]] = {
    Channel.TELEMETRY: TelemetryReading,
    Channel.ENERGY: EnergyReading,
    Channel.STATUS: StatusReading,
}
