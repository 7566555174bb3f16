"""Machines without OPC UA: a state word, counters and sensors in PLC memory, over Modbus (TCP,
RTU, RTU over TCP) or from Siemens S7 PLCs (DB and M areas). Only pydantic here."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge_agent.sources.devices import ModbusLink, _Device
from telemetry.models import MachineState, Name

PlcType = Literal["bool", "int16", "uint16", "int32", "uint32", "float32"]
COUNTER_TYPES = ("int16", "uint16", "int32", "uint32")


class PlcValue(BaseModel):
    """Where one value lives: a Modbus register (``table``, 0-based ``address``) or S7 memory
    (``area`` DB ``db`` or M, byte ``address``, and ``bit`` for a bool)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    address: int = Field(ge=0, le=65_535, description="Modbus register, or S7 byte offset")
    type: PlcType = "uint16"
    table: Literal["holding", "input"] = Field(default="holding", description="Modbus")
    word_order: Literal["big", "little"] = Field(default="big", description="Modbus: 32-bit")
    area: Literal["DB", "M"] = Field(default="DB", description="S7: a data block, or merkers")
    db: int = Field(default=1, ge=1, le=65_535, description="S7: the data block's number")
    bit: int | None = Field(default=None, ge=0, le=7, description="S7: the bit of a bool")
    scale: float = Field(default=1.0, description="value = raw * scale (cycle time ms -> s)")

    @property
    def words(self) -> int:
        return {"bool": 1, "int16": 1, "uint16": 1}.get(self.type, 2)

    @property
    def size(self) -> int:
        """Bytes in S7 memory."""
        return {"bool": 1, "int16": 2, "uint16": 2}.get(self.type, 4)

    def where(self, protocol: str) -> str:
        """How the map names it, for messages that point at the map."""
        if protocol == "modbus":
            return f"{self.table} register {self.address} ({self.type})"
        place = f"DB{self.db}." if self.area == "DB" else "M"
        bit = f".{self.bit}" if self.bit is not None else ""
        return f"{place}{self.address}{bit} ({self.type})"


class _MachineMap(BaseModel):
    """What a machine's PLC holds, and how its codes read."""

    state: PlcValue = Field(description="The state word (codes in state_map)")
    total_count: PlcValue = Field(description="Units made (a counter; 16/32 bit, rolls over)")
    good_count: PlcValue = Field(description="Good units (a counter)")
    reason: PlcValue | None = Field(default=None, description="A stop reason code (reason_map)")
    ideal_cycle: PlcValue | None = Field(default=None, description="Ideal cycle time (scale to s)")
    ideal_cycle_s: float | None = Field(default=None, gt=0, description="When the PLC has none")
    sensors: dict[Name, PlcValue] = Field(default_factory=dict)
    state_map: dict[str, MachineState] = Field(
        description="The PLC's state codes (as text) -> our states, e.g. {'1': 'RUNNING'}"
    )
    reason_map: dict[str, Name] = Field(
        default_factory=dict,
        description="Reason codes -> our reason names (an unmapped code is sent as code_N; "
        "0 is no reason)",
    )
    poll_interval_s: float = Field(default=1.0, gt=0, le=3600)
    heartbeat_s: float = Field(
        default=5.0, gt=0, description="Send the current values this often when nothing changes"
    )

    @model_validator(mode="after")
    def _counters(self) -> _MachineMap:
        for name in ("total_count", "good_count"):
            if getattr(self, name).type not in COUNTER_TYPES:
                raise ValueError(f"{name}: a counter is an integer ({', '.join(COUNTER_TYPES)})")
        if not self.state_map:
            raise ValueError("state_map: map the PLC's state codes to our states")
        return self


class ModbusMachine(_MachineMap, ModbusLink):
    """A machine whose PLC answers Modbus (TCP, RTU on a line shared with meters, RTU over
    TCP): registers of its state word, counters and sensors."""


class S7Machine(_MachineMap, _Device):
    """A machine on a Siemens S7 PLC (S7-300/400/1200/1500, ISO-on-TCP): DB and M memory.
    S7-1200/1500 need PUT/GET allowed and optimized block access off for the data block."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(description="The PLC's address")
    port: int = Field(default=102, ge=1, le=65_535)
    rack: int = Field(default=0, ge=0, le=7)
    slot: int = Field(default=1, ge=0, le=31, description="S7-1200/1500: 1; S7-300: 2")
    timeout_s: float = Field(default=3.0, gt=0, le=60)
    reconnect_max_s: float = Field(default=30.0, gt=0)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port} rack {self.rack} slot {self.slot}"
