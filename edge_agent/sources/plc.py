"""Machines without OPC UA: their PLC's memory polled over Modbus or S7, as telemetry readings.

Each poll reads the state word, the two counters and the optional reason code, ideal cycle
and sensors. A reading is sent when the state, a counter or the reason changed, and every
``heartbeat_s`` otherwise. Counters of 16 or 32 bits roll over: a fall from the top quarter
of the range to the bottom quarter is a roll-over, and the count goes on (any other fall is
a reset, passed on as such: the analytics count resets). Values no PLC should hold (a
fractional state code, a negative counter, an ideal cycle outside 0..86,400 s, NaN) refuse
the poll with a message naming the value's place in the map; the poll after is read anew.
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
import time
from collections.abc import Callable
from typing import Any

from core.backoff import Backoff
from edge_agent.errors import EdgeError
from edge_agent.sources.base import Group
from edge_agent.sources.devices import DeviceStats
from edge_agent.sources.machine_state import CurrentValues
from edge_agent.sources.modbus import Bus, read_words, stopping
from edge_agent.sources.plc_config import ModbusMachine, PlcValue, S7Machine
from edge_agent.sources.registers import SanityError, words_value
from telemetry.models import Channel

log = logging.getLogger(__name__)
_S7_FORMAT = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f"}
_BITS = {"int16": 16, "uint16": 16, "int32": 32, "uint32": 32}


class ReadError(EdgeError):
    """The PLC did not answer, or refused the read."""


class Counter:
    """A PLC counter made cumulative across roll-overs of its 16 or 32 bits."""

    def __init__(self, type_: str) -> None:
        self.range = 1 << _BITS[type_]
        self.previous: int | None = None
        self.offset = 0

    def __call__(self, raw: int) -> int:
        if raw < 0:  # a signed counter past its top: the same bits, unsigned
            raw += self.range
        prev = self.previous
        if (
            prev is not None
            and raw < prev
            and prev >= 0.75 * self.range
            and raw < 0.25 * self.range
        ):
            self.offset += self.range
        self.previous = raw
        return raw + self.offset


def interpret(m: ModbusMachine | S7Machine, raw: dict[str, float | int | bool],
              counters: dict[str, Counter], protocol: str) -> dict[str, Any]:  # fmt: skip
    """Raw PLC values as the machine's current values; :class:`SanityError` for impossible
    ones, naming their place in the map."""
    out: dict[str, Any] = {}

    def bad(field: str, spec: PlcValue, why: str) -> SanityError:
        return SanityError(f"{field} = {raw[field]!r} at {spec.where(protocol)} {why}: check "
                           "the map (address, type, word order)")  # fmt: skip

    for field, value in raw.items():
        if isinstance(value, float) and not math.isfinite(value):
            spec = m.sensors[field[7:]] if field.startswith("sensor:") else getattr(m, field)
            raise bad(field, spec, "is not a number")
    state = raw["state"]
    if isinstance(state, float) and not state.is_integer():
        raise bad("state", m.state, "is not a whole state code")
    out["state"] = str(int(state))
    for field in ("total_count", "good_count"):
        value = raw[field]
        spec = getattr(m, field)
        if isinstance(value, float):
            raise bad(field, spec, "is not a whole count")
        out[field] = counters[field](int(value))
    if m.reason is not None:
        code = int(raw["reason"])
        out["reason"] = None if code == 0 else m.reason_map.get(str(code), f"code_{code}")
    if m.ideal_cycle is not None:
        cycle = float(raw["ideal_cycle"]) * m.ideal_cycle.scale
        if not 0 < cycle <= 86_400:
            raise bad("ideal_cycle", m.ideal_cycle, f"gives {cycle:g} s, not within 0..86,400 s")
        out["ideal_cycle_s"] = cycle
    for name, spec in m.sensors.items():
        out[f"sensor:{name}"] = float(raw[f"sensor:{name}"]) * spec.scale
    return out


def _values(m: ModbusMachine | S7Machine) -> dict[str, PlcValue]:
    found = {"state": m.state, "total_count": m.total_count, "good_count": m.good_count}
    if m.reason is not None:
        found["reason"] = m.reason
    if m.ideal_cycle is not None:
        found["ideal_cycle"] = m.ideal_cycle
    found.update({f"sensor:{k}": v for k, v in m.sensors.items()})
    return found


async def read_modbus(client: Any, m: ModbusMachine) -> dict[str, float | int | bool]:
    """Every value of the map (one request per table when the span allows)."""
    from pymodbus.exceptions import ModbusException

    specs = _values(m)
    try:
        places = {f: (s.table, s.address, s.words) for f, s in specs.items()}
        words = await read_words(client, m.device_id, places)
    except (ModbusException, ConnectionError, TimeoutError, OSError) as exc:
        stopping()
        raise ReadError(str(exc)) from exc
    return {f: _value_of(specs[f], w) for f, w in words.items()}


def _value_of(spec: PlcValue, words: list[int]) -> float | int | bool:
    if spec.type == "bool":
        return words[0] != 0
    return words_value(spec.type, spec.word_order, "big", words)


def read_s7(client: Any, m: S7Machine) -> dict[str, float | int | bool]:
    """Every value of the map from the PLC's memory (S7 is big-endian), one read each."""
    out: dict[str, float | int | bool] = {}
    for f, s in _values(m).items():
        try:
            data = (client.db_read(s.db, s.address, s.size) if s.area == "DB"
                    else client.mb_read(s.address, s.size))  # fmt: skip
        except Exception as exc:  # snap7 raises its own kinds and RuntimeError
            raise ReadError(f"{s.where('s7')}: {exc}") from exc
        if s.type == "bool":
            out[f] = bool(data[0] >> (s.bit or 0) & 1)
        else:
            (out[f],) = struct.unpack(_S7_FORMAT[s.type], bytes(data[: s.size]))
    return out


async def poll_machine(
    m: ModbusMachine | S7Machine,
    emit: Callable[[Group], None],
    *,
    first_seq: int = 0,
    stats: DeviceStats | None = None,
    bus: Bus | None = None,
) -> None:
    """Poll forever; a changed state, count or reason (or the heartbeat) is one reading."""
    stats = stats or DeviceStats()
    protocol = "modbus" if isinstance(m, ModbusMachine) else "s7"
    name = f"machine {m.path} at {m.where} ({protocol})"
    line = None
    s7: Any = None
    if isinstance(m, ModbusMachine):
        line = bus if bus is not None else Bus(m)
    values = CurrentValues(m, first_seq)
    counters = {f: Counter(getattr(m, f).type) for f in ("total_count", "good_count")}
    backoff = Backoff(0.5, m.reconnect_max_s)
    last_key: tuple[Any, ...] | None = None
    last_sent = 0.0
    next_poll = time.monotonic()
    try:
        while True:
            try:
                if isinstance(m, ModbusMachine):
                    assert line is not None
                    async with line.lock:
                        if not line.client.connected and not await line.client.connect():
                            raise ReadError(f"cannot open {line.name}")
                        raw = await _retrying(lambda: read_modbus(line.client, m), m.retries)
                else:
                    if s7 is None:
                        s7 = await asyncio.to_thread(_s7_connect, m)
                    raw = await asyncio.to_thread(read_s7, s7, m)
            except ReadError as exc:
                if s7 is not None:
                    await asyncio.to_thread(_s7_close, s7)
                    s7 = None
                if line is not None and not line.shared:
                    line.close()
                await stats.failed(backoff, name, exc)
                next_poll = time.monotonic()
                continue
            stats.answered(backoff, name)
            try:
                current = interpret(m, raw, counters, protocol)
            except SanityError as exc:
                stats.rejected += 1
                log.error("%s: %s", name, exc)
            else:
                values.values.update(current)
                key = tuple(current.get(k) for k in ("state", "total_count", "good_count",
                                                     "reason"))  # fmt: skip
                now = time.monotonic()
                if key != last_key or now - last_sent >= m.heartbeat_s:
                    reading = values.reading(int(time.time() * 1000))
                    if reading is not None:
                        emit((m.path, Channel.TELEMETRY, [reading]))
                        stats.readings += 1
                        last_key, last_sent = key, now
            next_poll += m.poll_interval_s
            await asyncio.sleep(max(0.0, next_poll - time.monotonic()))
    finally:
        if s7 is not None:
            _s7_close(s7)
        if line is not None and bus is None:
            line.close()


async def _retrying(read: Callable[[], Any], retries: int) -> dict[str, float | int | bool]:
    failed: ReadError | None = None
    for _ in range(retries + 1):
        try:
            return await read()  # type: ignore[no-any-return]
        except ReadError as exc:
            failed = exc
    assert failed is not None
    raise failed


def _s7_connect(m: S7Machine) -> Any:
    import snap7

    client = snap7.client.Client()
    try:
        client.connect(m.host, m.rack, m.slot, m.port)
    except Exception as exc:
        raise ReadError(f"cannot connect: {exc}") from exc
    return client


def _s7_close(client: Any) -> None:
    try:
        client.disconnect()
    except Exception as exc:  # already gone
        log.debug("S7 disconnect: %s", exc)
