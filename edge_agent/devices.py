"""Configuration of real devices: Modbus TCP energy meters and OPC UA machines.

Only pydantic here: reading the configuration needs neither pymodbus nor asyncua.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from edge_agent.registers import PRESETS, RegisterSpec
from telemetry.models import MachineState, Name
from telemetry.topic import MachinePath


class DeviceStats:
    """What one device poller or subscription has done."""

    def __init__(self) -> None:
        self.readings = 0
        self.errors = 0
        self.rejected = 0
        self.reconnects = 0
        self.connected = False
        self._ever_connected = False

    def came_back(self) -> bool:
        """Mark the device connected; true when it had been connected before (a reconnect)."""
        again = self._ever_connected
        if again:
            self.reconnects += 1
        self._ever_connected = self.connected = True
        return again


class _Device(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    site: Name
    area: Name
    line: Name
    machine: Name

    @property
    def path(self) -> MachinePath:
        return MachinePath(self.site, self.area, self.line, self.machine)


class ModbusMeter(_Device):
    """An energy meter on Modbus TCP, polled at a fixed interval."""

    host: str
    port: int = Field(default=502, ge=1, le=65_535)
    device_id: int = Field(default=1, ge=0, le=255, description="Modbus unit / slave id")
    preset: str | None = Field(default=None, description="A register map from PRESETS")
    registers: tuple[RegisterSpec, ...] = ()
    poll_interval_s: float = Field(default=5.0, gt=0, le=3600)
    timeout_s: float = Field(default=3.0, gt=0, le=60)
    reconnect_max_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _map(self) -> ModbusMeter:
        if self.preset is not None and self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; known: {', '.join(sorted(PRESETS))}")
        if not self.register_map:
            raise ValueError("set a preset or list registers")
        fields = [r.field for r in self.register_map]
        if "energy_kwh" not in fields or "power_kw" not in fields:
            raise ValueError("the register map must include energy_kwh and power_kw")
        if len(set(fields)) != len(fields):
            raise ValueError("each field may appear once in the register map")
        return self

    @property
    def register_map(self) -> tuple[RegisterSpec, ...]:
        return self.registers or (PRESETS[self.preset] if self.preset else ())


class OpcUaMachine(_Device):
    """A machine's PLC on OPC UA: node ids of state, counters and sensors."""

    url: str = Field(description="opc.tcp://host:port/path")
    state_node: str = Field(
        description="Node id of the machine's state, e.g. ns=2;s=Line1.M01.State"
    )
    total_count_node: str
    good_count_node: str
    ideal_cycle_node: str | None = None
    reason_node: str | None = None
    sensor_nodes: dict[Name, str] = Field(default_factory=dict)
    state_map: dict[str, MachineState] = Field(
        description="The machine's own state codes (as text) -> our states, e.g. {'1': 'RUNNING'}"
    )
    ideal_cycle_s: float | None = Field(
        default=None, gt=0, description="Used when the PLC has no ideal-cycle node"
    )
    heartbeat_s: float = Field(default=5.0, gt=0, description="Send the current values this often")
    publishing_interval_ms: int = Field(default=100, ge=10)
    security: str | None = Field(
        default=None,
        description="asyncua security string, e.g. Basic256Sha256,SignAndEncrypt,cert.pem,key.pem",
    )
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: float = Field(default=4.0, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)
    certificate_dir: Path | None = None
