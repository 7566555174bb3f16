"""`factory simulate` publishing with faults: the ingest side sees exactly what was injected."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import uuid
from pathlib import Path

import pytest

from factory_cli.main import main
from ingest.config import IngestConfig
from ingest.service import IngestService
from store.sqlite import SQLiteStore
from telemetry.urls import parse_mqtt_url
from tests.helpers.servers import Server

pytestmark = pytest.mark.integration


async def test_simulate_publishes_with_faults_counted_exactly(
    mosquitto_server: Server, topic_root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in list(os.environ):
        if key.startswith("FACTORY_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("FACTORY_MQTT_URL", f"mqtt://127.0.0.1:{mosquitto_server.port}")
    monkeypatch.setenv("FACTORY_TOPIC_ROOT", topic_root)
    service = IngestService(
        endpoint=parse_mqtt_url(f"mqtt://127.0.0.1:{mosquitto_server.port}"),
        store=SQLiteStore(tmp_path / "t.db"),
        config=IngestConfig(client_id=f"in-{uuid.uuid4().hex[:8]}"),
        root=topic_root,
    )
    task = asyncio.create_task(service.run())
    await asyncio.wait_for(service.ready.wait(), 10)
    truth = tmp_path / "truth.json"
    args = ["simulate", "--machines", "3", "--hours", "2", "--seed", "3", "--rate", "20000",
            "--malformed", "0.1", "--duplicates", "0.05", "--truth", str(truth)]  # fmt: skip
    assert await asyncio.to_thread(main, args) == 0
    report = json.loads(truth.read_text())["faults"]
    sent = report["messages"] + report["duplicate_messages"]
    async with asyncio.timeout(30):
        while service.stats.received_messages < sent:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    service.stop()
    await asyncio.wait_for(task, 10)
    good_readings = report["readings"] - report["malformed_readings_lost"]
    with sqlite3.connect(tmp_path / "t.db") as conn:
        stored = sum(
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("telemetry", "energy")
        )
    assert stored == good_readings, "duplicates overwrite themselves; nothing else is lost"
    assert report["malformed_messages"] > 0
    assert service.stats.rejected_messages >= report["malformed_messages"]
    with sqlite3.connect(tmp_path / "t.db") as conn:
        letters = conn.execute("SELECT count(*) FROM deadletter").fetchone()[0]
    assert letters == service.stats.rejected_messages
