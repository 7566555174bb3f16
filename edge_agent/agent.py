"""The agent loop: source -> batches -> QoS 1 publish, with counters."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from edge_agent.config import EdgeConfig
from edge_agent.publisher import MqttPublisher
from edge_agent.source import Source

log = logging.getLogger(__name__)


@dataclass(slots=True)
class AgentStats:
    """What the agent has done so far."""

    read: int = 0
    published_messages: int = 0
    acknowledged: int = 0
    """Readings whose message the broker acknowledged (PUBACK)."""


class EdgeAgent:
    """Publishes everything a source produces; returns when the source is exhausted."""

    def __init__(
        self,
        source: Source,
        publisher: MqttPublisher,
        config: EdgeConfig,
        *,
        on_progress: Callable[[AgentStats], None] | None = None,
    ) -> None:
        self._source = source
        self._publisher = publisher
        self._config = config
        self._on_progress = on_progress
        self.stats = AgentStats()

    async def run(self) -> AgentStats:
        async with self._publisher as pub:
            await pub.announce(self._source.machines, online=True)
            limit = asyncio.Semaphore(self._config.max_inflight)
            async with asyncio.TaskGroup() as tg:
                async for groups in self._source.batches():
                    for path, channel, readings in groups:
                        self.stats.read += len(readings)
                        topic = pub.topic(path, channel)
                        size = self._config.batch_max_readings
                        for i in range(0, len(readings), size):
                            chunk = readings[i : i + size]
                            payload = json.dumps(chunk, separators=(",", ":")).encode()
                            await limit.acquire()
                            tg.create_task(
                                self._publish(topic, payload, len(chunk), limit),
                                name=f"publish {topic}",
                            )
            await pub.announce(self._source.machines, online=False)
        log.info(
            "edge agent done: read=%d messages=%d acknowledged=%d",
            self.stats.read,
            self.stats.published_messages,
            self.stats.acknowledged,
        )
        return self.stats

    async def _publish(
        self, topic: str, payload: bytes, count: int, limit: asyncio.Semaphore
    ) -> None:
        try:
            await self._publisher.publish(topic, payload)
        finally:
            limit.release()
        self.stats.published_messages += 1
        self.stats.acknowledged += count
        if self._on_progress is not None:
            self._on_progress(self.stats)
