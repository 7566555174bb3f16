"""Modbus RTU: meters on an RS-485 line (pymodbus's serial server on a virtual serial pair
made by socat) and behind an RTU-over-TCP gateway, through the whole pipeline. A meter that
answers with a bad CRC and one that never answers share the line with good ones and must not
stop them."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from edge_agent.config import EdgeConfig
from edge_agent.sources.device_source import DeviceSource
from edge_agent.sources.devices import ModbusMeter
from edge_agent.sources.registers import PRESETS, decode, encode
from tests.helpers.devices import ModbusLineServer, SerialPair
from tests.helpers.servers import Server, free_port, until
from tests.helpers.sources import pipeline

pytestmark = pytest.mark.integration

SPEC = {s.field: s for s in PRESETS["sdm630"]}


def as_read(field: str, value: float) -> float:
    return decode(SPEC[field], encode(SPEC[field], value))


def meter(name: str, unit: int, **line: Any) -> ModbusMeter:
    return ModbusMeter(site="plant1", area="utilities", line="rs485", machine=name,
                       device_id=unit, preset="sdm630", poll_interval_s=0.1, timeout_s=0.5,
                       retries=1, reconnect_max_s=4.0, **line)  # fmt: skip


def readings(source: DeviceSource, m: ModbusMeter) -> int:
    found = source.stats.get(f"modbus {m.path}")
    return 0 if found is None else found.readings


def stored(db: Path) -> dict[str, list[tuple[int, float, float]]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT machine, seq, energy_kwh, power_kw FROM energy ORDER BY ts")
        out: dict[str, list[tuple[int, float, float]]] = {}
        for machine, seq, kwh, kw in rows:
            out.setdefault(machine, []).append((seq, kwh, kw))
    return out


async def test_a_line_of_meters_with_a_bad_crc_and_a_silent_one(
    mosquitto_server: Server, topic_root: str, tmp_path: Path
) -> None:
    pair = SerialPair(tmp_path)
    pair.start()
    server = ModbusLineServer((1, 2, 3, 4), serial_port=pair.a, baudrate=19200)
    for unit in (1, 2, 3, 4):
        server.set(unit, {"energy_kwh": 1000.0 * unit, "power_kw": 1.5 * unit,
                          "voltage_v": 230.0, "power_factor": 0.9})  # fmt: skip
    server.bad_crc.add(3)
    server.silent.add(4)
    line = {"transport": "rtu", "serial_port": pair.b, "baudrate": 19200}
    meters = [meter(f"m{u}", u, **line) for u in (1, 2, 3, 4)]
    source = DeviceSource(meters=meters)
    try:
        await server.start()
        async with pipeline(source, mosquitto_server, topic_root, tmp_path):
            await until(lambda: min(readings(source, m) for m in meters[:2]) >= 4,
                        "good meters' readings", timeout_s=60)  # fmt: skip
            # Meter 3's CRC is mended, and it joins; meter 4 stays silent.
            server.bad_crc.clear()
            for unit in (1, 2, 3):
                server.set(unit, {"energy_kwh": 1000.0 * unit + 1.25, "power_kw": 2.0,
                                  "voltage_v": 230.0, "power_factor": 0.9})  # fmt: skip
            await until(lambda: readings(source, meters[2]) >= 3, "the mended meter's readings",
                        timeout_s=60)  # fmt: skip
            good_before = readings(source, meters[0])
            await until(lambda: readings(source, meters[0]) >= good_before + 3,
                        "more good readings", timeout_s=60)  # fmt: skip
    finally:
        await server.stop()
        pair.stop()
    stats = {m.machine: source.stats[f"modbus {m.path}"] for m in meters}
    assert stats["m3"].errors >= 1 and stats["m4"].errors >= 2
    assert stats["m4"].readings == 0 and not stats["m4"].connected
    rows = stored(tmp_path / "t.db")
    assert set(rows) == {"m1", "m2", "m3"}, "nothing invented for the silent meter"
    for name, unit in (("m1", 1), ("m2", 2), ("m3", 3)):
        got = rows[name]
        assert [s for s, _, _ in got] == list(range(len(got))), "seq without gaps"
        values = {(kwh, kw) for _, kwh, kw in got}
        assert values <= {
            (as_read("energy_kwh", 1000.0 * unit), as_read("power_kw", 1.5 * unit)),
            (as_read("energy_kwh", 1000.0 * unit + 1.25), as_read("power_kw", 2.0)),
        }, name
    # The good meters went on while the others failed (one request at a time: each failing
    # meter holds the line for its timeouts, 0.5 s x 2 attempts, then backs off up to 4 s).
    assert len(rows["m1"]) >= 7 and len(rows["m2"]) >= 4


async def test_meters_behind_an_rtu_over_tcp_gateway(
    mosquitto_server: Server, topic_root: str, tmp_path: Path
) -> None:
    port = free_port()
    server = ModbusLineServer((7, 8), tcp_port=port)
    for unit in (7, 8):
        server.set(unit, {"energy_kwh": 500.0 + unit, "power_kw": 0.5 * unit,
                          "voltage_v": 231.0, "power_factor": 0.95})  # fmt: skip
    meters = [meter(f"g{u}", u, transport="rtu_over_tcp", host="127.0.0.1", port=port)
              for u in (7, 8)]  # fmt: skip
    source = DeviceSource(meters=meters)
    try:
        await server.start()
        async with pipeline(source, mosquitto_server, topic_root, tmp_path):
            await until(lambda: min(readings(source, m) for m in meters) >= 5,
                        "readings through the gateway")  # fmt: skip
    finally:
        await server.stop()
    rows = stored(tmp_path / "t.db")
    for unit in (7, 8):
        kwh, kw = rows[f"g{unit}"][0][1:]
        assert (kwh, kw) == (as_read("energy_kwh", 500.0 + unit), as_read("power_kw", 0.5 * unit))


def test_line_settings_are_checked() -> None:
    a = meter("a", 1, transport="rtu", serial_port="/dev/ttyUSB0")
    with pytest.raises(ValueError, match="both answer as unit 1 on serial /dev/ttyUSB0"):
        EdgeConfig(meters=(a, meter("b", 1, transport="rtu", serial_port="/dev/ttyUSB0")))
    with pytest.raises(ValueError, match="share /dev/ttyUSB0 but not its baudrate"):
        EdgeConfig(meters=(a, meter("b", 2, transport="rtu", serial_port="/dev/ttyUSB0",
                                    baudrate=19200)))  # fmt: skip
    with pytest.raises(ValueError, match="transport rtu: set serial_port"):
        meter("c", 1, transport="rtu", host="10.0.0.1")
    with pytest.raises(ValueError, match="transport tcp: set host"):
        meter("d", 1)
    with pytest.raises(ValueError, match="baudrate 9601"):
        meter("e", 1, transport="rtu", serial_port="/dev/ttyS0", baudrate=9601)
    # Two TCP meters with the same unit id are two connections: fine.
    EdgeConfig(meters=(meter("f", 1, host="10.0.0.1"), meter("g", 1, host="10.0.0.2")))
