"""`factory demo`: a simulated fleet through the whole pipeline, KPIs beside the truth."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from analytics.aggregation import Aggregator
from analytics.oee.accounts import Kpi, Window
from analytics.oee.stored import book_from_store
from edge_agent.agent import build_agent
from edge_agent.sources.base import SimulatorSource
from factory_cli.settings import Settings
from ingest.service import IngestService
from simulators import Fleet
from store import open_reader, open_store
from telemetry.topic import MachinePath
from telemetry.urls import MqttEndpoint, parse_mqtt_url

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def embedded_broker() -> AsyncIterator[MqttEndpoint]:
    """An in-process amqtt broker on a free loopback port."""
    from amqtt.broker import Broker

    for name in ("amqtt", "transitions", "passlib"):
        logging.getLogger(name).setLevel(logging.ERROR)
    port = free_port()
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            # Loopback only, so anonymous access; no $SYS topics and no packet logging.
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        },
    )
    await broker.start()
    try:
        yield parse_mqtt_url(f"mqtt://127.0.0.1:{port}")
    finally:
        await broker.shutdown()


@dataclass(frozen=True, slots=True)
class DemoResult:
    kpis: dict[MachinePath, Kpi]
    truth: dict[MachinePath, dict[str, Any]]
    window: Window
    published: int
    stored: int
    rejected: int
    seconds: float
    accounted_hours: int = 0
    """Hour accounts the aggregation stored while the pipeline ran."""
    sources: tuple[str, ...] = ()
    """Where the figures came from: stored accounts, raw readings, or both."""


async def run_pipeline(
    settings: Settings,
    fleet: Fleet,
    *,
    endpoint: MqttEndpoint,
    duration_s: float | None,
    console: Console | None,
) -> DemoResult:
    """Simulator -> edge agent -> broker -> ingest -> store -> analytics, all in this process."""
    started = time.monotonic()
    # The demo's edge buffer lives only as long as the demo.
    scratch = tempfile.TemporaryDirectory(prefix="factory-demo-")
    edge = settings.edge.model_copy(
        update={
            "buffer_path": Path(scratch.name) / "edge-buffer.db",
            "buffer_synchronous": "NORMAL",
        }
    )
    store = open_store(settings.store_url, token=settings.influx_token)
    ingest = IngestService(
        endpoint=endpoint, store=store, config=settings.ingest, root=settings.topic_root
    )
    speedup = None if not duration_s else fleet.config.hours * 3600 / duration_s
    source = SimulatorSource(fleet, speedup=speedup)

    progress = Progress(
        TextColumn("{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=console is None,
        transient=False,
    )
    with progress:
        t_pub = progress.add_task("published (PUBACK)", total=fleet.reading_count)
        t_store = progress.add_task("stored", total=fleet.reading_count)

        def on_publish(stats: Any) -> None:
            progress.update(t_pub, completed=stats.acknowledged)

        all_stored = asyncio.Event()
        expected: list[int] = []  # known once the agent is done

        def on_store(stats: Any) -> None:
            done = stats.written_readings + stats.rejected_messages
            progress.update(t_store, completed=min(done, fleet.reading_count))
            if expected and done >= expected[0]:
                all_stored.set()

        ingest._on_progress = on_store
        agent = build_agent(
            source,
            endpoint=endpoint,
            config=edge,
            root=settings.topic_root,
            on_progress=on_publish,
        )
        # The aggregation keeps the stored accounts current while readings arrive.
        aggregator = Aggregator(
            settings.store_url,
            token=settings.influx_token,
            plant=fleet.plant,
            period="hour",
            max_gap_s=settings.analytics.max_gap_s,
            anomaly_z=settings.analytics.anomaly_z,
        )
        aggregating = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(aggregator.run_schedule(aggregating, every_s=2.0), name="aggregation")
            ingest_task = tg.create_task(ingest.run(), name="ingest")
            await asyncio.wait_for(ingest.ready.wait(), 30)
            await agent.run()
            # Every reading and status message the broker acknowledged must be stored.
            expected.append(agent.stats.acknowledged + agent.stats.status_messages)
            on_store(ingest.stats)
            # Everything was acknowledged by the broker; wait until ingest has stored it.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_stored.wait(), 120)
            ingest.stop()
            await ingest_task
            aggregating.set()
    scratch.cleanup()
    # Ingest has stopped (its change marks released): one more pass makes every account
    # current, and the figures come from them.
    await aggregator.pass_once()
    window = Window(fleet.start_ms, fleet.end_ms)
    reader = open_reader(settings.store_url, token=settings.influx_token)
    book = await book_from_store(reader, window, plant=fleet.plant,
                                 max_gap_s=settings.analytics.max_gap_s)  # fmt: skip
    kpis = book.machines
    truth = {p: t.summary() for p, t in fleet.truth().items()}
    return DemoResult(
        kpis={p: k for p, k in kpis.items() if p in truth},
        truth=truth,
        window=window,
        published=agent.stats.acknowledged,
        stored=ingest.stats.written_readings,
        rejected=ingest.stats.rejected_messages,
        seconds=time.monotonic() - started,
        accounted_hours=aggregator.stats.hours,
        sources=tuple(sorted({s["source"] for s in book.sources})),
    )


async def demo(
    settings: Settings,
    fleet: Fleet,
    *,
    duration_s: float | None,
    console: Console | None,
) -> DemoResult:
    if "mqtt_url" in settings.model_fields_set:
        return await run_pipeline(
            settings, fleet, endpoint=settings.mqtt_url, duration_s=duration_s, console=console
        )
    async with embedded_broker() as endpoint:
        if console is not None:
            console.print(f"[dim]embedded MQTT broker (amqtt) on {endpoint}[/]")
        return await run_pipeline(
            settings, fleet, endpoint=endpoint, duration_s=duration_s, console=console
        )
