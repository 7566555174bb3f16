"""Modbus energy meters, polled at a fixed rate (pymodbus client): Modbus TCP, RTU on an
RS-485 line, RTU over TCP.

A meter that does not answer is reconnected with capped backoff; while it is
away nothing is invented: the gap shows in the data as no readings.

Meters on one line (a serial port, or an RTU-over-TCP gateway) share a :class:`Bus`: one
client and one request at a time (a lock around each poll). Each meter keeps its own
schedule, timeout and retries, so a meter that is silent or answers with a bad CRC costs
the others at most its timeout x (retries + 1) per poll, and never stops them: a failed
poll of one meter does not close the line (pymodbus closes it itself after several
unanswered requests in a row; the next poll opens it again).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from core.backoff import Backoff
from edge_agent.sources.base import Group
from edge_agent.sources.devices import DeviceStats, ModbusLink, ModbusMeter
from edge_agent.sources.registers import RegisterSpec, SanityError, check_energy, decode
from telemetry.models import Channel

log = logging.getLogger(__name__)


MAX_SPAN = 120
"""Registers of one table read in one request when the map's span is no wider."""


async def read_words(
    client: Any, device_id: int, places: Mapping[str, tuple[str, int, int]]
) -> dict[str, list[int]]:
    """The registers of each named place (table, 0-based address, count): one request per
    table when the span allows, else one per place. A refusal is a ModbusException."""
    from pymodbus.exceptions import ModbusException

    out: dict[str, list[int]] = {}
    for table in ("holding", "input"):
        mine = {k: (a, n) for k, (t, a, n) in places.items() if t == table}
        if not mine:
            continue
        lo = min(a for a, _ in mine.values())
        hi = max(a + n for a, n in mine.values())
        spans = ([(lo, hi - lo, mine)] if hi - lo <= MAX_SPAN else
                 [(a, n, {k: (a, n)}) for k, (a, n) in mine.items()])  # fmt: skip
        read = getattr(client, f"read_{table}_registers")
        for start, count, members in spans:
            result = await read(start, count=count, device_id=device_id)
            if result.isError():
                raise ModbusException(f"{table} registers {start}..{start + count - 1}: {result}")
            regs = list(result.registers)
            for k, (a, n) in members.items():
                out[k] = regs[a - start : a - start + n]
    return out


async def read_values(client: object, meter: ModbusMeter) -> dict[str, float]:
    """Read every register of the meter's map."""
    specs: dict[str, RegisterSpec] = {s.field: s for s in meter.register_map}
    places = {f: (s.table, s.address, s.width) for f, s in specs.items()}
    words = await read_words(client, meter.device_id, places)
    return {f: decode(specs[f], w) for f, w in words.items()}


def stopping() -> None:
    """Raise CancelledError if this task is being cancelled: pymodbus turns a cancellation
    inside a request into a ModbusIOException, which would otherwise read as a failed poll
    and keep the poller (and whoever waits for it to stop) going."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Bus:
    """One client for the meters of a line (or one Modbus TCP meter), one request at a time."""

    def __init__(self, meter: ModbusLink) -> None:
        from pymodbus import FramerType
        from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

        self.name = meter.bus
        self.shared = meter.transport != "tcp"
        self.lock = asyncio.Lock()
        self.client: Any
        if meter.transport == "rtu":
            assert meter.serial_port is not None
            self.client = AsyncModbusSerialClient(
                meter.serial_port, framer=FramerType.RTU, baudrate=meter.baudrate,
                parity=meter.parity, stopbits=meter.stopbits, bytesize=meter.bytesize,
                timeout=meter.timeout_s, retries=0, reconnect_delay=0,
            )  # fmt: skip
        else:
            framer = FramerType.RTU if meter.transport == "rtu_over_tcp" else FramerType.SOCKET
            self.client = AsyncModbusTcpClient(
                meter.host or "", port=meter.port, framer=framer, timeout=meter.timeout_s,
                retries=0, reconnect_delay=0,
            )  # fmt: skip

    def close(self) -> None:
        self.client.close()


def buses(meters: Sequence[ModbusLink]) -> dict[str, Bus]:
    """The lines of these meters, each with its one client (meters sharing a line share it)."""
    out: dict[str, Bus] = {}
    for m in meters:
        if m.bus not in out:
            out[m.bus] = Bus(m)
    return out


async def poll_meter(
    meter: ModbusMeter,
    emit: Callable[[Group], None],
    *,
    first_seq: int = 0,
    stats: DeviceStats | None = None,
    bus: Bus | None = None,
) -> None:
    """Poll forever; each good poll becomes one energy reading (``emit``). ``bus``: the line
    shared with other meters (default: a connection of its own)."""
    from pymodbus.exceptions import ModbusException

    stats = stats or DeviceStats()
    name = f"meter {meter.path} at {meter.where}"
    own = bus is None
    line = Bus(meter) if bus is None else bus
    client = line.client
    seq = first_seq
    previous_kwh: float | None = None
    backoff = Backoff(0.5, meter.reconnect_max_s)
    next_poll = time.monotonic()
    try:
        while True:
            failed: Exception | None = None
            async with line.lock:
                if not client.connected and not await client.connect():
                    failed = ConnectionError(f"cannot open {line.name}")
                else:
                    for _attempt in range(meter.retries + 1):
                        try:
                            values = await read_values(client, meter)
                            failed = None
                            break
                        except (ModbusException, ConnectionError, TimeoutError, OSError) as exc:
                            stopping()
                            failed = exc
            if failed is not None:
                if not line.shared:
                    client.close()  # reconnect: a meter of its own
                await stats.failed(backoff, name, failed)
                next_poll = time.monotonic()
                continue
            stats.answered(backoff, name)
            ts = int(time.time() * 1000)
            try:
                check_energy(values, previous_kwh)
            except SanityError as exc:
                stats.rejected += 1
                log.error("%s: %s (values read: %s)", name, exc, values)
            else:
                reading = {"ts": ts, "seq": seq, **values}
                emit((meter.path, Channel.ENERGY, [reading]))
                seq += 1
                stats.readings += 1
                previous_kwh = values["energy_kwh"]
            next_poll += meter.poll_interval_s
            await asyncio.sleep(max(0.0, next_poll - time.monotonic()))
    finally:
        if own:
            line.close()
