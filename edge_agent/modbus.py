"""Modbus TCP energy meters, polled at a fixed rate (pymodbus client).

A meter that does not answer is reconnected with capped backoff; while it is
away nothing is invented: the gap shows in the data as no readings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from edge_agent.devices import DeviceStats, ModbusMeter
from edge_agent.registers import RegisterSpec, SanityError, check_energy, decode
from edge_agent.source import Group
from telemetry.backoff import Backoff
from telemetry.models import Channel

log = logging.getLogger(__name__)


async def read_values(client: object, meter: ModbusMeter) -> dict[str, float]:
    """Read every register of the map: one request per table when the span allows."""
    from pymodbus.exceptions import ModbusException

    values: dict[str, float] = {}
    for table in ("holding", "input"):
        specs = [s for s in meter.register_map if s.table == table]
        if not specs:
            continue
        lo = min(s.address for s in specs)
        hi = max(s.address + s.width for s in specs)
        spans: list[tuple[int, int, list[RegisterSpec]]] = (
            [(lo, hi - lo, specs)] if hi - lo <= 120 else [(s.address, s.width, [s]) for s in specs]
        )
        for start, count, members in spans:
            read = getattr(
                client, "read_holding_registers" if table == "holding" else "read_input_registers"
            )
            result = await read(start, count=count, device_id=meter.device_id)
            if result.isError():
                raise ModbusException(f"{table} registers {start}..{start + count - 1}: {result}")
            regs = list(result.registers)
            for s in members:
                values[s.field] = decode(s, regs[s.address - start : s.address - start + s.width])
    return values


async def poll_meter(
    meter: ModbusMeter,
    emit: Callable[[Group], None],
    *,
    first_seq: int = 0,
    stats: DeviceStats | None = None,
) -> None:
    """Poll forever; each good poll becomes one energy reading (``emit``)."""
    from pymodbus.client import AsyncModbusTcpClient
    from pymodbus.exceptions import ModbusException

    stats = stats or DeviceStats()
    name = f"meter {meter.path} at {meter.host}:{meter.port}"
    client = AsyncModbusTcpClient(
        meter.host, port=meter.port, timeout=meter.timeout_s, retries=0, reconnect_delay=0
    )
    seq = first_seq
    previous_kwh: float | None = None
    backoff = Backoff(0.5, meter.reconnect_max_s)
    next_poll = time.monotonic()
    try:
        while True:
            if not client.connected:
                if not await client.connect():
                    stats.connected = False
                    wait = backoff.next()
                    log.warning("%s does not answer; trying again in %.1f s", name, wait)
                    await asyncio.sleep(wait)
                    continue
                if stats.came_back():
                    log.warning("%s is back", name)
                backoff.reset()
                next_poll = time.monotonic()
            try:
                values = await read_values(client, meter)
            except (ModbusException, ConnectionError, TimeoutError, OSError) as exc:
                stats.errors += 1
                stats.connected = False
                log.warning("%s: read failed (%s); reconnecting", name, exc)
                client.close()
                continue
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
        client.close()
