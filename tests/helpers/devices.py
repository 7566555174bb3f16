"""Real protocol peers for the source tests: Modbus meters (TCP, an RTU line on a virtual serial
pair, RTU over TCP) and an OPC UA machine."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from typing import Any, ClassVar

from edge_agent.sources.registers import PRESETS, RegisterSpec, encode


class ModbusMeterServer:
    """A pymodbus server whose registers hold the values we set, encoded by a register map."""

    def __init__(self, port: int, registers: tuple[RegisterSpec, ...] = PRESETS["sdm630"]) -> None:
        self.port = port
        self.registers = registers
        self.regs: dict[int, int] = {}
        self.served: list[dict[str, float]] = []
        self._values: dict[str, float] = {}
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    def set(self, values: dict[str, float]) -> None:
        self._values = dict(values)
        for spec in self.registers:
            if spec.field in values:
                for i, word in enumerate(encode(spec, values[spec.field])):
                    self.regs[spec.address + i] = word

    def set_words(self, words: dict[int, int]) -> None:
        """Hold these register words as they are (written by hand from a meter's manual)."""
        self._values = {}
        self.regs = dict(words)

    async def _action(
        self, fc: int, start: int, address: int, count: int, current: list[int], set_values: Any
    ) -> None:
        for i in range(len(current)):
            current[i] = self.regs.get(start + i, 0)
        self.served.append(dict(self._values))

    async def start(self) -> None:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        device = SimDevice(
            1,
            simdata=[SimData(0, count=256, values=0, datatype=DataType.REGISTERS)],
            action=self._action,
        )
        self._server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
        self._task = asyncio.create_task(self._server.serve_forever())
        for _ in range(100):
            try:
                _, w = await asyncio.open_connection("127.0.0.1", self.port)
                w.close()
                return
            except OSError:
                await asyncio.sleep(0.05)
        raise TimeoutError("modbus server did not start")

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


class SerialPair:
    """Two connected pseudo-terminals from Debian's ``socat``: what one end writes the other
    reads, as over an RS-485 line (``a`` for the devices, ``b`` for the gateway)."""

    def __init__(self, folder: Any) -> None:
        self.a, self.b = str(folder / "devices"), str(folder / "gateway")
        self._proc: Any = None

    def start(self) -> None:
        import os
        import subprocess
        import time

        from tests.helpers.servers import require_binary

        socat = require_binary("socat", "socat", "/usr/bin")
        self._proc = subprocess.Popen(
            [socat, f"pty,raw,echo=0,link={self.a}", f"pty,raw,echo=0,link={self.b}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(200):
            if os.path.exists(self.a) and os.path.exists(self.b):
                return
            time.sleep(0.02)
        raise TimeoutError("socat made no serial pair")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(5)
            self._proc = None


class ModbusLineServer:
    """Several meters on one line (pymodbus's server, RTU framing) over a serial port or TCP
    (RTU over TCP), each unit holding the values we set; units in ``bad_crc`` answer with a
    corrupted CRC, units in ``silent`` never answer."""

    def __init__(self, units: tuple[int, ...], *, serial_port: str | None = None,
                 tcp_port: int | None = None, baudrate: int = 19200,
                 registers: tuple[RegisterSpec, ...] = PRESETS["sdm630"]) -> None:  # fmt: skip
        self.units = units
        self.serial_port, self.tcp_port, self.baudrate = serial_port, tcp_port, baudrate
        self.registers = registers
        self.regs: dict[int, dict[int, int]] = {u: {} for u in units}
        self.served: dict[int, int] = dict.fromkeys(units, 0)
        self.bad_crc: set[int] = set()
        self.silent: set[int] = set()
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    def set(self, unit: int, values: dict[str, float]) -> None:
        for spec in self.registers:
            if spec.field in values:
                for i, word in enumerate(encode(spec, values[spec.field])):
                    self.regs[unit][spec.address + i] = word

    def _device(self, unit: int) -> Any:
        from pymodbus.simulator import DataType, SimData, SimDevice

        async def action(fc: int, start: int, address: int, count: int, current: list[int],
                         set_values: Any) -> None:  # fmt: skip
            for i in range(len(current)):
                current[i] = self.regs[unit].get(start + i, 0)
            self.served[unit] += 1

        return SimDevice(unit, simdata=[SimData(0, count=256, values=0,
                                                datatype=DataType.REGISTERS)],
                         action=action)  # fmt: skip

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if sending and data and data[0] in self.silent:
            return b""
        if sending and data and data[0] in self.bad_crc:
            return data[:-1] + bytes([data[-1] ^ 0xFF])
        return data

    async def start(self) -> None:
        from pymodbus import FramerType
        from pymodbus.server import ModbusSerialServer, ModbusTcpServer

        devices = [self._device(u) for u in self.units]
        if self.serial_port is not None:
            self._server = ModbusSerialServer(
                devices, port=self.serial_port, baudrate=self.baudrate, trace_packet=self._trace
            )
        else:
            assert self.tcp_port is not None
            self._server = ModbusTcpServer(devices, framer=FramerType.RTU,
                                           address=("127.0.0.1", self.tcp_port),
                                           trace_packet=self._trace)  # fmt: skip
        self._task = asyncio.create_task(self._server.serve_forever())
        await asyncio.sleep(0.2)

    stop = ModbusMeterServer.stop


class OpcUaMachineServer:
    """An asyncua server exposing one machine: State (Int32 codes), counters, ideal cycle."""

    CODES: ClassVar[dict[str, int]] = {
        "RUNNING": 1,
        "IDLE": 2,
        "DOWN": 3,
        "SETUP": 4,
        "PLANNED_STOP": 5,
        "OFF": 0,
    }

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"opc.tcp://127.0.0.1:{port}/factory/"
        self.server: Any = None
        self.vars: dict[str, Any] = {}

    async def start(self) -> None:
        from asyncua import Server, ua

        server = Server()
        await server.init()
        server.set_endpoint(self.url)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        ns = await server.register_namespace("urn:factory:test")
        machine = await server.nodes.objects.add_object(ua.NodeId("M01", ns), "M01")
        specs = {
            "State": (0, ua.VariantType.Int32),
            "TotalCount": (0, ua.VariantType.Int64),
            "GoodCount": (0, ua.VariantType.Int64),
            "IdealCycle": (1.0, ua.VariantType.Double),
            "Reason": ("", ua.VariantType.String),
        }
        for name, (value, vtype) in specs.items():
            self.vars[name] = await machine.add_variable(
                ua.NodeId(f"M01.{name}", ns), name, ua.Variant(value, vtype)
            )
        self.ns = ns
        await server.start()
        self.server = server

    def node(self, name: str) -> str:
        return f"ns={self.ns};s=M01.{name}"

    @property
    def state_map(self) -> dict[str, str]:
        return {str(code): state for state, code in self.CODES.items()}

    async def write(self, reading: dict[str, Any], when: dt.datetime) -> None:
        from asyncua import ua

        values = {
            "State": (self.CODES[reading["state"]], ua.VariantType.Int32),
            "TotalCount": (reading["total_count"], ua.VariantType.Int64),
            "GoodCount": (reading["good_count"], ua.VariantType.Int64),
            "IdealCycle": (float(reading.get("ideal_cycle_s", 1.0)), ua.VariantType.Double),
            "Reason": (reading.get("reason") or "", ua.VariantType.String),
        }
        for name, (value, vtype) in values.items():
            await self.vars[name].write_value(
                ua.DataValue(ua.Variant(value, vtype), SourceTimestamp=when, ServerTimestamp=when)
            )

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None
