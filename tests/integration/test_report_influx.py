"""Reports read from a real InfluxDB at 1-second readings: long chunked responses, push-down,
and the same figures as the simulator's truth."""

from __future__ import annotations

import pytest

from analytics.oee.accounts import Window
from analytics.oee.analysis import analyse
from simulators import Fleet, FleetConfig
from simulators.faults import Faults, fleet_messages
from store import open_store, parse_store_url
from store.influx_v1 import InfluxV1Reader
from telemetry.codec import decode
from tests.helpers.servers import Server

pytestmark = pytest.mark.integration


async def test_one_hertz_machines_from_influxdb_match_the_truth(
    influx_server: Server, influx_db: str
) -> None:
    # 6 hours at 1 Hz: a series of 21,600 rows, so InfluxDB answers in chunks of
    # 20,000 rows, each a JSON line of more than a megabyte.
    fleet = Fleet(FleetConfig(machines=2, lines=1, hours=6, interval_s=1.0, seed=21))
    url = parse_store_url(f"influxdb://127.0.0.1:{influx_server.port}/{influx_db}")
    store = open_store(url)
    await store.open()
    messages, _ = fleet_messages(fleet, Faults(), root="factory", batch=2000)
    batch = [decode(topic, payload) for topic, payload in messages]
    for i in range(0, len(batch), 20):
        await store.write(batch[i : i + 20])
    await store.close()

    analysis = await analyse(InfluxV1Reader(url), Window(fleet.start_ms, fleet.end_ms))
    truth = fleet.truth()
    assert set(analysis.machines) == set(truth)
    for path, kpi in analysis.machines.items():
        t = truth[path]
        for key in ("availability", "performance", "quality", "oee"):
            assert getattr(kpi, key) == pytest.approx(getattr(t, key), abs=1e-9), (path, key)
        assert (kpi.total_count, kpi.good_count) == (t.total_count, t.good_count)
        assert kpi.losses_s == pytest.approx(t.losses_s, abs=1e-6)
        assert kpi.kwh_per_good_unit == pytest.approx(t.kwh_per_good_unit, rel=1e-3)
