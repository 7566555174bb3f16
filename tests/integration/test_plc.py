"""Machines without OPC UA, through the whole pipeline: a PLC answering Modbus TCP (pymodbus's
server) with a 16-bit counter that rolls over, and a Siemens S7 PLC (python-snap7's server)
with 32-bit counters in a data block."""

from __future__ import annotations

import asyncio
import sqlite3
import struct
from pathlib import Path
from typing import Any

import pytest

from edge_agent.sources.device_source import DeviceSource
from edge_agent.sources.plc_config import ModbusMachine, S7Machine
from tests.helpers.devices import ModbusMeterServer
from tests.helpers.servers import Server, free_port, until
from tests.helpers.sources import pipeline

pytestmark = pytest.mark.integration
LINE = {"site": "plant1", "area": "assembly", "line": "line1"}


def rows(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT machine, state, reason, total_count, good_count, ideal_cycle_s FROM telemetry "
            "ORDER BY ts"
        ).fetchall()


def readings(source: DeviceSource, key: str) -> int:
    found = source.stats.get(key)
    return 0 if found is None else found.readings


async def test_a_modbus_plc_with_a_rolling_counter(
    mosquitto_server: Server, topic_root: str, tmp_path: Path
) -> None:
    plc = ModbusMeterServer(free_port())
    words = {0: 1, 1: 65_530, 2: 65_500, 3: 0, 4: 2500, 5: 415}
    plc.set_words(words)
    await plc.start()
    machine = ModbusMachine(
        **LINE, machine="press01", host="127.0.0.1", port=plc.port,
        state={"address": 0}, total_count={"address": 1}, good_count={"address": 2},
        reason={"address": 3}, ideal_cycle={"address": 4, "scale": 0.001},
        sensors={"temperature_c": {"address": 5, "type": "int16", "scale": 0.1}},
        state_map={"1": "RUNNING", "3": "DOWN"}, reason_map={"7": "jam"},
        poll_interval_s=0.05, heartbeat_s=60,
    )  # fmt: skip
    source = DeviceSource(plcs=[machine])
    key = f"modbus {machine.path}"
    try:
        async with pipeline(source, mosquitto_server, topic_root, tmp_path):
            await until(lambda: readings(source, key) >= 1, "the first reading")
            # The 16-bit counters roll over; the counts go on.
            plc.set_words({**words, 1: 4, 2: 2})
            await until(lambda: readings(source, key) >= 2, "the roll-over")
            # A stop with its reason code.
            plc.set_words({**words, 0: 3, 1: 6, 2: 3, 3: 7})
            await until(lambda: readings(source, key) >= 3, "the stop")
            # A state code the map does not know: no reading (logged); then running again.
            plc.set_words({**words, 0: 9, 1: 6, 2: 3})
            await asyncio.sleep(0.3)
            assert readings(source, key) == 3
            plc.set_words({**words, 0: 1, 1: 8, 2: 5})
            await until(lambda: readings(source, key) >= 4, "running again")
    finally:
        await plc.stop()
    assert rows(tmp_path / "t.db") == [
        ("press01", "RUNNING", None, 65_530, 65_500, 2.5),
        ("press01", "RUNNING", None, 65_540, 65_538, 2.5),
        ("press01", "DOWN", "jam", 65_542, 65_539, 2.5),
        ("press01", "RUNNING", None, 65_544, 65_541, 2.5),
    ]
    with sqlite3.connect(tmp_path / "t.db") as conn:
        (temperature,) = conn.execute("SELECT DISTINCT value FROM sensor").fetchone()
    assert temperature == pytest.approx(41.5)


async def test_an_s7_plc_data_block(
    mosquitto_server: Server, topic_root: str, tmp_path: Path
) -> None:
    import snap7
    from snap7.type import SrvArea

    port = free_port()
    server = snap7.server.Server(log=False)
    db = bytearray(32)
    merkers = bytearray(8)
    server.register_area(SrvArea.DB, 7, db)
    server.register_area(SrvArea.MK, 0, merkers)
    struct.pack_into(">hiif", db, 0, 2, 1_000_000, 999_000, 1.25)  # IDLE, counters, cycle s
    struct.pack_into(">h", merkers, 0, 0)
    server.start(tcp_port=port)
    machine = S7Machine(
        **LINE, machine="cnc07", host="127.0.0.1", port=port, rack=0, slot=1,
        state={"address": 0, "db": 7, "type": "int16"},
        total_count={"address": 2, "db": 7, "type": "int32"},
        good_count={"address": 6, "db": 7, "type": "int32"},
        ideal_cycle={"address": 10, "db": 7, "type": "float32"},
        reason={"address": 0, "area": "M", "type": "int16"},
        state_map={"1": "RUNNING", "2": "IDLE", "3": "DOWN"}, reason_map={"4": "starved"},
        poll_interval_s=0.05, heartbeat_s=60,
    )  # fmt: skip
    source = DeviceSource(plcs=[machine])
    key = f"s7 {machine.path}"
    try:
        async with pipeline(source, mosquitto_server, topic_root, tmp_path):
            await until(lambda: readings(source, key) >= 1, "the first S7 reading")
            struct.pack_into(">h", merkers, 0, 4)
            await until(lambda: readings(source, key) >= 2, "the reason code")
            struct.pack_into(">hii", db, 0, 1, 1_000_050, 999_049)
            struct.pack_into(">h", merkers, 0, 0)
            await until(lambda: readings(source, key) >= 3, "running")
    finally:
        server.stop()
    assert rows(tmp_path / "t.db") == [
        ("cnc07", "IDLE", None, 1_000_000, 999_000, 1.25),
        ("cnc07", "IDLE", "starved", 1_000_000, 999_000, 1.25),
        ("cnc07", "RUNNING", None, 1_000_050, 999_049, 1.25),
    ]
