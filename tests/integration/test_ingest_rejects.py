"""Bad messages are rejected with a reason, counted and kept; good ones keep flowing."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ingest.config import IngestConfig
from ingest.service import IngestService
from store.sqlite import SQLiteStore
from telemetry.urls import parse_mqtt_url
from tests.helpers.servers import Server

pytestmark = pytest.mark.integration

TS = 1_767_600_000_000


def _reading(seq: int, **override: object) -> dict[str, object]:
    r: dict[str, object] = {
        "ts": TS + seq * 1000,
        "seq": seq,
        "state": "RUNNING",
        "total_count": 10 + seq,
        "good_count": 9 + seq,
    }
    r.update(override)
    return r


async def _wait(predicate: object, timeout_s: float = 15.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():  # type: ignore[operator]  # noqa: ASYNC110 (poll a condition)
            await asyncio.sleep(0.02)


async def test_bad_messages_are_dead_lettered_and_good_ones_stored(
    mosquitto_server: Server, topic_root: str, tmp_path: Path
) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    config = IngestConfig(client_id=f"ingest-{uuid.uuid4().hex[:8]}")
    endpoint = parse_mqtt_url(f"mqtt://127.0.0.1:{mosquitto_server.port}")
    service = IngestService(endpoint=endpoint, store=store, config=config, root=topic_root)
    task = asyncio.create_task(service.run())
    await asyncio.wait_for(service.ready.wait(), 10)

    base = f"{topic_root}/v1/plant1/assembly/line1/m01"
    sends: list[tuple[str, bytes]] = [
        (f"{base}/telemetry", json.dumps([_reading(0), _reading(1)]).encode()),
        (f"{base}/telemetry", b"{this is not json"),
        (f"{base}/telemetry", json.dumps(_reading(2, total_count="12")).encode()),
        (
            f"{base}/telemetry",
            json.dumps({k: v for k, v in _reading(3).items() if k != "ts"}).encode(),
        ),
        (f"{topic_root}/v1/plant1/assembly/line.1/m01/telemetry", json.dumps(_reading(4)).encode()),
        (f"{base}/vibration", json.dumps(_reading(5)).encode()),
        (f"{base}/telemetry", json.dumps(_reading(6)).encode()),
    ]
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    pub.connect("127.0.0.1", mosquitto_server.port)
    pub.loop_start()
    try:
        for topic, payload in sends:
            pub.publish(topic, payload, qos=1).wait_for_publish(5)
    finally:
        pub.loop_stop()
        pub.disconnect()

    # A rejected message is counted once its dead letter is stored, a moment after receipt.
    await _wait(
        lambda: (
            service.stats.received_messages >= len(sends)
            and service.stats.rejected_messages + service.stats.written_readings >= 5 + 3
        )
    )
    assert not task.done(), "the service must keep running after bad messages"
    assert service.stats.written_readings == 3
    assert service.stats.rejected_messages == 5

    service.stop()
    await asyncio.wait_for(task, 10)

    with sqlite3.connect(tmp_path / "t.db") as conn:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM telemetry ORDER BY ts")]
    assert seqs == [0, 1, 6]

    kept = SQLiteStore(tmp_path / "t.db")
    await kept.open()
    letters = {
        d.payload: d for d in await kept.deadletters(source="t", max_payload_bytes=1).newest(100)
    }
    await kept.close()
    assert len(letters) == 5
    reasons = [d.error for d in letters.values()]
    assert any("not valid JSON" in r for r in reasons)
    assert any("total_count" in r and "integer" in r for r in reasons)
    assert any("ts" in r and "Field required" in r for r in reasons)
    assert any("invalid line" in r and "line.1" in r for r in reasons)
    assert any("unknown channel 'vibration'" in r for r in reasons)
    assert letters[b"{this is not json"].topic == f"{base}/telemetry"
