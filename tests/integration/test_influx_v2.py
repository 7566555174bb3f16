"""The InfluxDB v2 write path (influxdb-client's async client) against a real /api/v2/write."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from ingest.config import IngestConfig
from ingest.service import IngestService
from simulators import Fleet, FleetConfig
from store import open_store, parse_store_url
from telemetry.models import Channel
from telemetry.topic import Topic
from telemetry.urls import parse_mqtt_url
from tests.helpers.servers import Server, victoria_metrics

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def vm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with victoria_metrics(tmp_path_factory.mktemp("vm")) as server:
        yield server


def export(port: int, selector: str) -> list[dict[str, object]]:
    urllib.request.urlopen(f"http://127.0.0.1:{port}/internal/force_flush", timeout=10).read()
    query = urllib.parse.urlencode({"match[]": selector})
    with urllib.request.urlopen(
        f"http://127.0.0.1:{port}/api/v1/export?{query}", timeout=10
    ) as resp:
        return [json.loads(line) for line in resp.read().decode().splitlines() if line]


async def test_v2_write_path_through_ingest(
    vm_server: Server, mosquitto_server: Server, topic_root: str, tmp_path: Path
) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    machine = f"m{uuid.uuid4().hex[:6]}"
    fleet = Fleet(FleetConfig(machines=1, lines=1, hours=1, seed=3, site="v2site"))
    endpoint = parse_store_url(f"influxdb2://127.0.0.1:{vm_server.port}/factory?org=plant")
    store = open_store(endpoint, token=SecretStr("test-token"))
    service = IngestService(
        endpoint=parse_mqtt_url(f"mqtt://127.0.0.1:{mosquitto_server.port}"),
        store=store,
        config=IngestConfig(client_id=f"ingest-{machine}"),
        root=topic_root,
    )
    task = asyncio.create_task(service.run())
    await asyncio.wait_for(service.ready.wait(), 10)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{machine}")
    pub.connect("127.0.0.1", mosquitto_server.port)
    pub.loop_start()
    sent = {Channel.TELEMETRY: 0, Channel.ENERGY: 0}
    for _, groups in fleet.chunks(3_600_000):
        for path, channel, readings in groups:
            path = path.__class__(path.site, path.area, path.line, machine)
            topic = str(Topic(path, channel, topic_root))
            for i in range(0, len(readings), 100):
                pub.publish(topic, json.dumps(readings[i : i + 100]), qos=1).wait_for_publish(5)
            sent[channel] += len(readings)
    pub.loop_stop()
    pub.disconnect()
    async with asyncio.timeout(20):
        while service.stats.written_readings < sum(sent.values()):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    service.stop()
    await asyncio.wait_for(task, 10)

    counts = export(vm_server.port, f'{{__name__="telemetry_total_count",machine="{machine}"}}')
    assert len(counts) == 1
    assert len(counts[0]["values"]) == sent[Channel.TELEMETRY]  # type: ignore[arg-type]
    energy = export(vm_server.port, f'{{__name__="energy_energy_kwh",machine="{machine}"}}')
    assert len(energy[0]["values"]) == sent[Channel.ENERGY]  # type: ignore[arg-type]
    assert energy[0]["metric"]["site"] == "v2site"  # type: ignore[index]
    # Device timestamps arrive unchanged (milliseconds).
    assert energy[0]["timestamps"][0] == fleet.start_ms  # type: ignore[index]


async def test_v2_store_sorts_errors_into_retry(tmp_path: Path) -> None:
    from store.errors import StoreError
    from telemetry.codec import decode

    endpoint = parse_store_url("influxdb2://127.0.0.1:1/factory?org=plant")
    store = open_store(endpoint, token=SecretStr("t"))
    await store.open()
    msg = decode(
        "factory/v1/s/a/l/m/energy",
        b'{"ts": 1767600000000, "seq": 1, "power_kw": 1.0, "energy_kwh": 2.0}',
    )
    with pytest.raises(StoreError) as info:
        await store.write([msg])
    assert info.value.action == "retry"
    assert not await store.ping()
    await store.close()
