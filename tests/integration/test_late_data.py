"""Late data: a gateway offline for 26 hours flushes its buffer while `factory aggregate` runs;
afterwards every stored hour and day account equals the raw computation (SQLite and a
real InfluxDB)."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest

from analytics.oee.accounts import Window
from analytics.oee.analysis import analyse
from analytics.oee.anomaly import Detector
from analytics.oee.ledger import to_json
from analytics.oee.stored import ACCOUNT, SENTINEL
from analytics.report.build import compute_report
from plant.model import load_plant
from simulators.faults import Faults, fleet_messages
from simulators.fleet import Fleet, FleetConfig
from store import StoreEndpoint, open_reader, open_store, parse_store_url
from telemetry.codec import Message, decode
from tests.helpers.fleets import MIDNIGHT_VN, PLANTS, assert_same, without_sources
from tests.helpers.servers import Server, factory_process, free_port, metrics

OFFLINE = (2 * 3_600_000, 28 * 3_600_000)
"""The gateway of line2 is offline from hour 2 to hour 28 of the 30."""


async def write(endpoint: StoreEndpoint, messages: list[Message]) -> None:
    store = open_store(endpoint)
    await store.open()
    for i in range(0, len(messages), 200):
        await store.write(messages[i : i + 200])
    await store.close()  # its change marks end now


async def marks_accounted(endpoint: StoreEndpoint, kpi_log: Path, limit_s: float) -> None:
    reader = open_reader(endpoint)
    deadline = time.monotonic() + limit_s
    while await reader.read_changes(0):
        assert time.monotonic() < deadline, f"marks not accounted in time: see {kpi_log}"
        await asyncio.sleep(0.5)


@pytest.mark.parametrize("kind", ["sqlite", "influxdb"])
async def test_a_gateway_back_after_26_hours_leaves_every_account_exact(
    kind: str, influx_server: Server, influx_db: str, workdir: Path
) -> None:
    url = (
        f"sqlite:///{workdir / 't.db'}"
        if kind == "sqlite"
        else f"influxdb://127.0.0.1:{influx_server.port}/{influx_db}"
    )
    endpoint = parse_store_url(url)
    plant = load_plant(PLANTS / "small.toml")
    start = MIDNIGHT_VN - 4 * 3_600_000
    fleet = Fleet(FleetConfig(hours=30, start_ms=start, seed=5), plant)
    raw_messages, _ = fleet_messages(fleet, Faults(), root="factory", batch=120)
    messages = [decode(t, p) for t, p in raw_messages]

    def held(m: Message) -> bool:
        first = m.readings[0].ts - start
        return m.topic.path.line == "line2" and OFFLINE[0] <= first < OFFLINE[1]

    backlog = [m for m in messages if held(m)]
    live = [m for m in messages if not held(m)]
    assert len(backlog) > 100 and len(live) > len(backlog)

    port = free_port()
    env = {
        "FACTORY_STORE_URL": url,
        "FACTORY_ANALYTICS__KPI_EVERY_S": "1",
        "FACTORY_ANALYTICS__METRICS_PORT": str(port),
    }
    log = workdir / "kpi.log"
    kpi = factory_process(["aggregate", "--plant", str(PLANTS / "small.toml")], env, log)
    try:
        await write(endpoint, live)
        await marks_accounted(endpoint, log, 180)
        reader = open_reader(endpoint)
        hour = start + 10 * 3_600_000
        before = {r.path for r in await reader.read_accounts(ACCOUNT, "hour", hour, hour + 1)}
        assert not any(p.line == "line2" for p in before - {SENTINEL})  # offline: no data
        late_before = metrics(port)["factory_aggregation_late_hours_total"]

        await write(endpoint, backlog)  # the gateway is back: 26 hours at once
        await marks_accounted(endpoint, log, 180)
        assert metrics(port)["factory_aggregation_late_hours_total"] >= late_before + 26
        assert metrics(port)["factory_aggregation_watermark_seconds"] > time.time() - 60
    finally:
        kpi.send_signal(signal.SIGTERM)
        assert kpi.wait(timeout=30) == 0, log.read_text()[-3000:]

    # Every stored hour account equals the hour computed now from every raw reading.
    reader = open_reader(endpoint)
    rows = await reader.read_accounts(ACCOUNT, "hour", start, fleet.end_ms)
    hours = sorted({r.start_ms for r in rows})
    assert len(hours) >= 30
    for h in hours:
        window = Window(h, h + 3_600_000)
        analysis = await analyse(reader, window, plant=plant, detector=Detector())
        want = {e.path: to_json(e) for e in analysis.entries(window)}
        got = {r.path: r.entry for r in rows if r.start_ms == h and r.path != SENTINEL}
        assert set(got) == set(want), h
        for path, text in want.items():
            assert_same(json.loads(text), json.loads(got[path]), f"{path} at {h}")
    days = await reader.read_accounts(ACCOUNT, "day", start, fleet.end_ms)
    assert {r.start_ms for r in days} == {MIDNIGHT_VN}
    # And the report over the whole 30 hours, from the accounts, equals the raw one.
    window = Window(start, fleet.end_ms)
    raw, _ = await compute_report(endpoint, window, plant=plant, raw=True, anomalies=False)
    stored, _ = await compute_report(endpoint, window, plant=plant, anomalies=False)
    assert_same(without_sources(raw.as_json_dict()), without_sources(stored.as_json_dict()))
    assert [s.source for s in stored.sources] == ["accounts"]
