"""Real industrial sources: a pymodbus meter and an asyncua machine, through the whole pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analytics.oee.accounts import Window
from analytics.oee.analysis import machine_kpis
from edge_agent.sources.device_source import DeviceSource
from edge_agent.sources.devices import ModbusMeter, OpcUaMachine
from edge_agent.sources.registers import PRESETS, RegisterSpec, decode, encode
from simulators import Fleet, FleetConfig
from store.sqlite import SQLiteReader
from tests.helpers.devices import ModbusMeterServer, OpcUaMachineServer
from tests.helpers.servers import Server, free_port, until
from tests.helpers.sources import pipeline

pytestmark = pytest.mark.integration
WHERE = {"site": "plant1", "area": "assembly", "line": "line1", "machine": "m01"}


def opcua_machine(server: OpcUaMachineServer, **kw: Any) -> OpcUaMachine:
    return OpcUaMachine(
        **WHERE,
        url=server.url,
        state_node=server.node("State"),
        total_count_node=server.node("TotalCount"),
        good_count_node=server.node("GoodCount"),
        state_map=server.state_map,  # type: ignore[arg-type]
        **kw,
    )


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_modbus_meter_values_arrive_unchanged_and_energy_matches_truth(
    mosquitto_server: Server, topic_root: str, tmp_path: Path
) -> None:
    fleet = Fleet(FleetConfig(machines=1, lines=1, hours=1, seed=12))
    run = fleet.streams[0].run
    truth = fleet.truth()[fleet.paths[0]]
    meter_server = ModbusMeterServer(free_port())
    meter_server.set(
        {"energy_kwh": 1000.0, "power_kw": 0.0, "voltage_v": 230.0, "power_factor": 0.9}
    )
    await meter_server.start()
    meter = ModbusMeter(**WHERE, host="127.0.0.1", port=meter_server.port, preset="sdm630",
                        poll_interval_s=0.05)  # fmt: skip
    source = DeviceSource(meters=[meter])
    try:
        async with pipeline(source, mosquitto_server, topic_root, tmp_path):
            await until(lambda: len(meter_server.served) >= 5, "polls before the run")
            wall, speedup = 4.0, 3600 / 4.0
            started = time.monotonic()
            while (elapsed := time.monotonic() - started) < wall:
                t_ms = run.start_ms + int(elapsed * speedup * 1000)
                t = np.array([t_ms])
                meter_server.set({
                    "energy_kwh": 1000.0 + float(run.energy_kwh(t)[0]),
                    "power_kw": float(run.seg_power_kw[run._segment_of(t)][0]),
                    "voltage_v": 230.0,
                    "power_factor": 0.9,
                })  # fmt: skip
                await asyncio.sleep(0.01)
            end = np.array([run.end_ms])
            final = 1000.0 + float(run.energy_kwh(end)[0])
            meter_server.set(
                {"energy_kwh": final, "power_kw": 0.0, "voltage_v": 230.0, "power_factor": 0.9}
            )
            polled = len(meter_server.served)
            await until(lambda: len(meter_server.served) >= polled + 5, "polls after the run")
    finally:
        await meter_server.stop()
    stored = rows(
        tmp_path / "t.db",
        "SELECT ts, seq, energy_kwh, power_kw, voltage_v, power_factor FROM energy ORDER BY ts",
    )
    assert len(stored) > 50
    assert [r[1] for r in stored] == list(range(len(stored))), "seq without gaps"
    spec = {sp.field: sp for sp in PRESETS["sdm630"]}

    def as_read(field: str, value: float) -> float:
        """What a client decodes from the registers the meter holds for ``value``."""
        return decode(spec[field], encode(spec[field], value))

    served = {
        (as_read("energy_kwh", v["energy_kwh"]), as_read("power_kw", v["power_kw"]))
        for v in meter_server.served
    }
    for _, _, kwh, kw, volts, pf in stored:
        assert (kwh, kw) in served, "values arrive in the store as the meter served them"
        assert volts == as_read("voltage_v", 230.0) and pf == as_read("power_factor", 0.9)
    delta = stored[-1][2] - stored[0][2]
    assert delta == pytest.approx(truth.energy_kwh, abs=1e-3)  # float32 of ~1,100 kWh


async def test_modbus_meter_words_from_the_manual_arrive_as_the_manual_says(
    mosquitto_server: Server, topic_root: str, tmp_path: Path
) -> None:
    """Register words written by hand, not by our encoder: an SDM630 holds IEEE 754 float32,
    high word first, in input registers 30001 (voltage, V), 30053 (total power, W), 30063
    (power factor) and 30073 (total import, kWh); a symmetric encode/decode bug cannot hide."""
    meter_server = ModbusMeterServer(free_port())
    meter_server.set_words({
        0: 0x4366, 1: 0x0000,  # 230.0 V
        52: 0x44E6, 53: 0x0000,  # 1840.0 W, stored as 1.84 kW
        62: 0x3F66, 63: 0x6666,  # 0.9 as float32 (0.89999997...)
        72: 0x4640, 73: 0xE600,  # 12345.5 kWh
    })  # fmt: skip
    await meter_server.start()
    meter = ModbusMeter(**WHERE, host="127.0.0.1", port=meter_server.port, preset="sdm630",
                        poll_interval_s=0.05)  # fmt: skip
    source = DeviceSource(meters=[meter])
    try:
        async with pipeline(source, mosquitto_server, topic_root, tmp_path) as (agent, _):
            await until(lambda: agent.stats.read >= 3, "three meter readings")
    finally:
        await meter_server.stop()
    stored = rows(
        tmp_path / "t.db", "SELECT voltage_v, power_kw, power_factor, energy_kwh FROM energy"
    )
    assert len(stored) >= 3
    for volts, kw, pf, kwh in stored:
        assert volts == 230.0 and kwh == 12345.5
        assert kw == pytest.approx(1.84, rel=1e-12)
        assert pf == pytest.approx(0.9, abs=1e-7) and pf != 0.9  # float32, not a rounded copy


async def test_wrong_register_map_is_caught_and_reported(
    mosquitto_server: Server, topic_root: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    meter_server = ModbusMeterServer(free_port())
    meter_server.set(
        {"energy_kwh": 12345.678, "power_kw": 18.4, "voltage_v": 231.0, "power_factor": 0.93}
    )
    await meter_server.start()
    # The device speaks float32; this map says int32 for power (an easy mistake).
    wrong = tuple(
        RegisterSpec(**{**s.model_dump(), "type": "int32"}) if s.field == "power_kw" else s
        for s in PRESETS["sdm630"]
    )
    meter = ModbusMeter(**WHERE, host="127.0.0.1", port=meter_server.port, registers=wrong,
                        poll_interval_s=0.05)  # fmt: skip
    source = DeviceSource(meters=[meter])
    caplog.set_level(logging.ERROR)
    try:
        async with pipeline(source, mosquitto_server, topic_root, tmp_path):
            await until(lambda: any(s.rejected > 5 for s in source.stats.values()), "rejections")
    finally:
        await meter_server.stop()
    stats = next(iter(source.stats.values()))
    assert stats.rejected > 5 and stats.readings == 0
    assert "power_kw" in caplog.text and "check the register map" in caplog.text
    assert rows(tmp_path / "t.db", "SELECT count(*) FROM energy") == [(0,)]


async def test_opcua_machine_through_the_pipeline_matches_truth(
    mosquitto_server: Server, topic_root: str, tmp_path: Path
) -> None:
    fleet = Fleet(FleetConfig(machines=1, lines=1, hours=2, seed=31, interval_s=30))
    stream = fleet.streams[0]
    readings = stream.telemetry(0, len(stream.times_ms))
    truth = fleet.truth()[fleet.paths[0]]
    server = OpcUaMachineServer(free_port())
    await server.start()
    machine = opcua_machine(
        server,
        ideal_cycle_node=server.node("IdealCycle"),
        reason_node=server.node("Reason"),
        heartbeat_s=3600,
        publishing_interval_ms=50,
    )
    source = DeviceSource(machines=[machine])
    try:
        async with pipeline(source, mosquitto_server, topic_root, tmp_path) as (_agent, _):
            await until(
                lambda: any(s.readings >= 1 for s in source.stats.values()),
                "the OPC UA subscription's first values",
            )
            for r in readings:
                when = dt.datetime.fromtimestamp(r["ts"] / 1000, dt.UTC)
                await server.write(r, when)
                await asyncio.sleep(0.002)
            # Each write is several data changes, so the agent reads more readings than
            # were written: wait until the last counters are stored, with a bound.
            last = (readings[-1]["total_count"], readings[-1]["good_count"])
            async with asyncio.timeout(30):
                while _stored_counts(tmp_path / "t.db", readings[-1]["ts"]) != last:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
    finally:
        await server.stop()
    kpis = await machine_kpis(
        SQLiteReader(tmp_path / "t.db"), Window(fleet.start_ms, fleet.end_ms), max_gap_s=60
    )
    kpi = kpis[fleet.paths[0]]
    for key in ("availability", "performance", "quality", "oee"):
        assert getattr(kpi, key) == pytest.approx(getattr(truth, key), abs=0.01), key
    assert kpi.total_count == truth.total_count and kpi.good_count == truth.good_count


def _stored_counts(db: Path, ts: int) -> tuple[int, int] | None:
    """The stored (total_count, good_count) of the reading at ``ts``, if it is stored."""
    if not db.exists():
        return None
    with contextlib.closing(sqlite3.connect(db)) as conn:
        row = conn.execute(
            "SELECT total_count, good_count FROM telemetry WHERE ts = ?", (ts,)
        ).fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


@pytest.mark.slow  # measured above 20 s
async def test_opcua_machine_away_for_30_s_is_a_gap_not_invented_data(
    mosquitto_server: Server, topic_root: str, tmp_path: Path
) -> None:
    server = OpcUaMachineServer(free_port())
    await server.start()
    machine = opcua_machine(
        server, ideal_cycle_s=10.0, heartbeat_s=1.0, reconnect_max_s=2.0, timeout_s=2.0
    )
    source = DeviceSource(machines=[machine])
    count = 0

    async def produce(seconds: float) -> None:
        nonlocal count
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            count += 1
            await server.write(
                {"state": "RUNNING", "total_count": count, "good_count": count},
                dt.datetime.now(dt.UTC),
            )
            await asyncio.sleep(0.5)

    start_ms = int(time.time() * 1000)
    async with pipeline(source, mosquitto_server, topic_root, tmp_path):
        await produce(5)
        await server.stop()
        gap_from = int(time.time() * 1000)
        await asyncio.sleep(30)
        gap_to = int(time.time() * 1000)
        server = OpcUaMachineServer(server.port)
        await server.start()
        await produce(8)
        stats = next(iter(source.stats.values()))
        assert stats.reconnects >= 1
        await server.stop()
    end_ms = int(time.time() * 1000)
    ts = [r[0] for r in rows(tmp_path / "t.db", "SELECT ts FROM telemetry ORDER BY ts")]
    inside = [t for t in ts if gap_from + 1500 < t < gap_to]
    assert not inside, "no readings are invented while the machine is away"
    assert any(t > gap_to for t in ts), "readings resume after the reconnection"
    kpis = await machine_kpis(
        SQLiteReader(tmp_path / "t.db"), Window(start_ms, end_ms), max_gap_s=3
    )
    kpi = next(iter(kpis.values()))
    assert kpi.no_data_s >= 25, f"the gap is reported as no data ({kpi.no_data_s:.1f} s)"
