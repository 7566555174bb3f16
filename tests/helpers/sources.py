"""A source under test through the whole pipeline: the edge agent, Mosquitto, ingest and the
store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from edge_agent.agent import EdgeAgent, build_agent
from edge_agent.config import EdgeConfig
from edge_agent.sources.device_source import DeviceSource
from ingest.config import IngestConfig
from ingest.service import IngestService
from store.sqlite import SQLiteStore
from telemetry.urls import parse_mqtt_url
from tests.helpers.servers import Server


@asynccontextmanager
async def pipeline(
    source: DeviceSource, broker: Server, root: str, tmp: Path
) -> AsyncIterator[tuple[EdgeAgent, IngestService]]:
    """Device source -> edge agent -> Mosquitto -> ingest -> SQLite, running."""
    mqtt = parse_mqtt_url(f"mqtt://127.0.0.1:{broker.port}")
    ingest = IngestService(
        endpoint=mqtt,
        store=SQLiteStore(tmp / "t.db"),
        config=IngestConfig(client_id=f"in-{uuid.uuid4().hex[:8]}"),
        root=root,
    )
    agent = build_agent(
        source,
        endpoint=mqtt,
        config=EdgeConfig(
            client_id=f"gw-{uuid.uuid4().hex[:8]}",
            buffer_path=tmp / "buffer.db",
            buffer_synchronous="NORMAL",
        ),
        root=root,
    )
    ingest_task = asyncio.create_task(ingest.run())
    await asyncio.wait_for(ingest.ready.wait(), 10)
    agent_task = asyncio.create_task(agent.run())
    try:
        yield agent, ingest
    finally:
        agent.stop()
        await asyncio.wait_for(agent_task, 30)
        async with asyncio.timeout(15):
            while ingest.stats.written_readings < agent.stats.acknowledged:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        ingest.stop()
        await asyncio.wait_for(ingest_task, 15)
