"""MQTT 5 against Mosquitto: the edge agent and ingest with session expiry instead of
clean_session, receive-maximum as flow control, and the broker's reason codes in errors."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest

from edge_agent.agent import build_agent
from edge_agent.config import EdgeConfig
from edge_agent.sources.base import SimulatorSource
from ingest.config import IngestConfig
from ingest.errors import BrokerAuthError
from ingest.service import IngestService
from simulators import Fleet, FleetConfig
from store.sqlite import SQLiteStore
from telemetry.urls import parse_mqtt_url
from tests.helpers.servers import Server, start_mosquitto, until

pytestmark = pytest.mark.integration


def ingest(broker: Server, root: str, db: Path, client_id: str, **kw: object) -> IngestService:
    config = IngestConfig(client_id=client_id, mqtt_version="5", **kw)  # type: ignore[arg-type]
    return IngestService(endpoint=parse_mqtt_url(f"mqtt://127.0.0.1:{broker.port}"),
                         store=SQLiteStore(db), config=config, root=root)  # fmt: skip


async def test_mqtt5_session_expiry_and_receive_maximum(
    mosquitto_server: Server, topic_root: str, tmp_path: Path
) -> None:
    db = tmp_path / "t.db"
    client_id = f"in5-{uuid.uuid4().hex[:8]}"
    # 1. Ingest subscribes once (MQTT 5, its session kept 10 minutes, at most 8 QoS 1
    #    messages unacknowledged), then goes away.
    first = ingest(mosquitto_server, topic_root, db, client_id, session_expiry_s=600,
                   receive_maximum=8)  # fmt: skip
    task = asyncio.create_task(first.run())
    await asyncio.wait_for(first.ready.wait(), 10)
    first.stop()
    await asyncio.wait_for(task, 20)
    # 2. The agent (MQTT 5 too) publishes a fleet meanwhile: the broker queues it for the
    #    session that outlived its connection.
    fleet = Fleet(FleetConfig(machines=4, lines=1, hours=2, seed=3))
    agent = build_agent(
        SimulatorSource(fleet), endpoint=parse_mqtt_url(f"mqtt://127.0.0.1:{mosquitto_server.port}"),
        config=EdgeConfig(client_id=f"ed5-{uuid.uuid4().hex[:8]}", mqtt_version="5",
                          buffer_path=tmp_path / "buffer.db", buffer_synchronous="NORMAL"),
        root=topic_root,
    )  # fmt: skip
    stats = await asyncio.wait_for(agent.run(), 120)
    assert stats.acknowledged == fleet.reading_count
    # 3. Back with the same client id: everything queued arrives and is stored.
    second = ingest(mosquitto_server, topic_root, db, client_id, receive_maximum=8,
                    batch_max_readings=300)  # fmt: skip
    task = asyncio.create_task(second.run())
    await until(lambda: second.stats.written_readings >= fleet.reading_count,
                "the queued readings", timeout_s=120)  # fmt: skip
    second.stop()
    await asyncio.wait_for(task, 20)
    with sqlite3.connect(db) as conn:
        stored = sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                     for t in ("telemetry", "energy"))  # fmt: skip
    assert stored == fleet.reading_count


async def test_mqtt5_receive_maximum_bounds_what_the_broker_sends(
    mosquitto_server: Server,
) -> None:
    """Our CONNECT's receive maximum: 8 QoS 1 messages come, and no more until we acknowledge.
    (Mosquitto 2.0.11 then sends a new burst of up to 8 per acknowledgement, more than the
    specification allows; our own backpressure, max_pending_messages, bounds memory still.)"""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from ingest.subscriber import Delivery, Subscriber

    got: list[Delivery] = []
    topic = f"rm{uuid.uuid4().hex[:6]}"
    sub = Subscriber(endpoint=parse_mqtt_url(f"mqtt://127.0.0.1:{mosquitto_server.port}"),
                     client_id=f"rm-{uuid.uuid4().hex[:6]}", topic_filter=f"{topic}/#",
                     on_delivery=got.append, mqtt_version="5", receive_maximum=8)  # fmt: skip
    await sub.connect()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"p-{uuid.uuid4().hex[:6]}")
    pub.connect("127.0.0.1", mosquitto_server.port)
    pub.loop_start()
    try:
        for i in range(50):
            pub.publish(f"{topic}/x", str(i).encode(), qos=1)
        await asyncio.sleep(1.0)
        assert len(got) == 8 and sub.unacked == 8  # the first flight, then nothing
        done = 0
        async with asyncio.timeout(20):
            while done < 50:
                for d in got[done:]:
                    sub.ack(d)
                done = len(got)
                await asyncio.sleep(0.05)
        assert [int(d.payload) for d in got] == list(range(50))  # in order, none lost
    finally:
        pub.loop_stop()
        pub.disconnect()
        await sub.disconnect()


async def test_mqtt5_reason_codes_in_errors(tmp_path: Path) -> None:
    folder = tmp_path / "mq"
    folder.mkdir()
    await asyncio.to_thread(subprocess.run, ["mosquitto_passwd", "-c", "-b",
                            str(folder / "passwd"), "ingest", "right"], check=True)  # fmt: skip
    conf = ("listener {port} 127.0.0.1\nallow_anonymous false\n"
            "password_file {folder}/passwd\nuser root\npersistence false\n")  # fmt: skip
    broker = start_mosquitto(folder, config=conf)
    try:
        url = f"mqtt://ingest:wrong@127.0.0.1:{broker.port}"
        config = IngestConfig(client_id="in5-auth", mqtt_version="5")
        service = IngestService(endpoint=parse_mqtt_url(url), config=config,
                                store=SQLiteStore(tmp_path / "t.db"))  # fmt: skip
        with pytest.raises(
            BrokerAuthError,
            match=r"refused our credentials \((Bad user name or password \(134\)"
            r"|Not authorized \(135\))\)",
        ):
            await asyncio.wait_for(service.run(), 30)
        # The agent too: refused for good, with the broker's reason.
        from edge_agent.errors import BrokerAuthError as AuthError

        fleet = Fleet(FleetConfig(machines=1, lines=1, hours=0.1, seed=1))
        agent = build_agent(
            SimulatorSource(fleet), endpoint=parse_mqtt_url(url), root="r5",
            config=EdgeConfig(client_id="ed5-auth", mqtt_version="5",
                              buffer_path=tmp_path / "b.db", buffer_synchronous="NORMAL"),
        )  # fmt: skip
        with pytest.raises(ExceptionGroup) as info:
            await asyncio.wait_for(agent.run(), 30)
        errors = info.value.subgroup(AuthError)
        assert errors is not None, info.value
        assert re.search(r"refused client 'ed5-auth': \[code:13[45]\]", str(errors.exceptions[0]))
    finally:
        broker.stop()
