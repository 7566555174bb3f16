"""Configuration of real devices: Modbus energy meters (TCP, RTU on RS-485, RTU over TCP)
and OPC UA machines.

Only pydantic here: reading the configuration needs neither pymodbus nor asyncua.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from core.backoff import Backoff
from edge_agent.sources.registers import PRESETS, RegisterSpec
from telemetry.models import MachineState, Name
from telemetry.topic import MachinePath

log = logging.getLogger("edge_agent.sources.devices")


class DeviceStats:
    """What one device poller or subscription has done."""

    def __init__(self) -> None:
        self.readings = 0
        self.errors = 0
        self.rejected = 0
        self.reconnects = 0
        self.connected = False
        self._ever_connected = False

    async def failed(self, backoff: Backoff, name: str, why: object) -> None:
        """A poll without a good answer: counted, logged, and a wait before the next."""
        self.errors += 1
        self.connected = False
        wait = backoff.next()
        log.warning("%s: no good answer (%s); trying again in %.1f s", name, why, wait)
        await asyncio.sleep(wait)

    def answered(self, backoff: Backoff, name: str) -> None:
        """A good answer: the device is back if it had been away."""
        if not self.connected:
            if self.came_back():
                log.warning("%s is back", name)
            backoff.reset()

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


BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


class ModbusLink(_Device):
    """How a Modbus device is reached: over TCP (``host``), on an RS-485 line
    (``transport = "rtu"``, ``serial_port``: several devices, each its own ``device_id``,
    share the line, one request at a time) or behind an RTU-over-TCP gateway
    (``transport = "rtu_over_tcp"``, ``host``: RTU frames in TCP, one line behind it)."""

    transport: Literal["tcp", "rtu", "rtu_over_tcp"] = Field(
        default="tcp", description="tcp (Modbus TCP), rtu (serial RS-485/RS-232), rtu_over_tcp"
    )
    host: str | None = Field(default=None, description="tcp, rtu_over_tcp: the device or gateway")
    port: int = Field(default=502, ge=1, le=65_535)
    serial_port: str | None = Field(default=None, description="rtu: e.g. /dev/ttyUSB0")
    baudrate: int = Field(default=9600, description="rtu: bits per second")
    parity: Literal["N", "E", "O"] = Field(default="N", description="rtu: none, even or odd")
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    device_id: int = Field(default=1, ge=0, le=255, description="Modbus unit / slave id")
    retries: int = Field(
        default=1, ge=0, le=5, description="Requests of a poll sent again when unanswered"
    )
    timeout_s: float = Field(default=3.0, gt=0, le=60)
    reconnect_max_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _link(self) -> ModbusLink:
        if self.transport == "rtu":
            if not self.serial_port or self.host is not None:
                raise ValueError("transport rtu: set serial_port (e.g. /dev/ttyUSB0), not host")
            if self.baudrate not in BAUDRATES:
                raise ValueError(f"baudrate {self.baudrate}: one of "
                                 f"{', '.join(map(str, BAUDRATES))}")  # fmt: skip
        elif not self.host or self.serial_port is not None:
            raise ValueError(f"transport {self.transport}: set host (the device or gateway), "
                             "not serial_port")  # fmt: skip
        return self

    @property
    def bus(self) -> str:
        """The line it shares with other devices (a serial port, or an RTU-over-TCP gateway);
        a Modbus TCP device has its own connection."""
        if self.transport == "rtu":
            return f"serial {self.serial_port}"
        if self.transport == "rtu_over_tcp":
            return f"rtu-over-tcp {self.host}:{self.port}"
        return f"tcp {self.host}:{self.port} unit {self.device_id}"

    @property
    def line_settings(self) -> tuple[int, str, int, int]:
        return (self.baudrate, self.parity, self.stopbits, self.bytesize)

    @property
    def where(self) -> str:
        if self.transport == "rtu":
            return f"{self.serial_port} unit {self.device_id}"
        return f"{self.host}:{self.port}" + (
            f" unit {self.device_id}" if self.transport == "rtu_over_tcp" else ""
        )


class ModbusMeter(ModbusLink):
    """An energy meter on Modbus, polled at a fixed interval (TCP, RTU line, RTU over TCP)."""

    preset: str | None = Field(default=None, description="A register map from PRESETS")
    registers: tuple[RegisterSpec, ...] = ()
    poll_interval_s: float = Field(default=5.0, gt=0, le=3600)

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


def check_buses(meters: Sequence[ModbusLink]) -> None:
    """Devices on one line need the same line settings and each its own unit id."""
    seen: dict[str, ModbusLink] = {}
    ids: dict[tuple[str, int], ModbusLink] = {}
    for m in meters:
        first = seen.setdefault(m.bus, m)
        if m.transport == "rtu" and m.line_settings != first.line_settings:
            raise ValueError(f"devices {first.path} and {m.path} share {m.serial_port} but not "
                             "its baudrate, parity, stopbits and bytesize")  # fmt: skip
        other = ids.setdefault((m.bus, m.device_id), m)
        if other is not m:
            raise ValueError(f"devices {other.path} and {m.path} both answer as unit "
                             f"{m.device_id} on {m.bus}: give each its own device_id")  # fmt: skip


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
