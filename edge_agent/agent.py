"""The agent: source -> durable buffer -> QoS 1 publisher, with its own reconnect loop.

Two tasks share the buffer. ``collect`` reads the source, packs readings into
messages and commits them to the buffer; it never waits for the network.
``forward`` owns the broker connection: it sends buffered messages in FIFO order
(so in ``seq`` order per machine and channel), removes each only after its
PUBACK, and after a lost connection reconnects with capped, jittered
exponential backoff and resends everything not yet acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from core.backoff import Backoff, TakeoverWatch, sleep_or_stop
from core.errors import ClientIdConflict
from core.metrics import MetricsServer
from edge_agent.buffer import Buffer, Entry, NewEntry
from edge_agent.config import EdgeConfig
from edge_agent.errors import BrokerAuthError, PublishError
from edge_agent.publisher import Connection, MqttPublisher
from edge_agent.sources.base import Source
from edge_agent.stats import AgentStats
from telemetry.codec import encode
from telemetry.models import Channel
from telemetry.topic import MachinePath

log = logging.getLogger(__name__)
T = TypeVar("T")
E = TypeVar("E", bound=BaseException)


class EdgeAgent:
    """Runs until the source is exhausted and everything is acknowledged, or until stopped."""

    def __init__(
        self,
        source: Source,
        buffer: Buffer,
        publisher: MqttPublisher,
        config: EdgeConfig,
        *,
        on_progress: Callable[[AgentStats], None] | None = None,
    ) -> None:
        self._source = source
        self._buffer = buffer
        self._publisher = publisher
        self._config = config
        self._on_progress = on_progress
        self.stats = AgentStats()
        self._new_data = asyncio.Event()
        self._source_done = False
        self._stopping = asyncio.Event()
        # Every buffer call runs on this one thread: SQLite work stays off the event loop
        # and the connection is never used from two threads at once.
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edge-buffer")
        self._high_water = 0  # highest buffer id sent on an earlier connection
        self.metrics: MetricsServer | None = None

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    def stop(self) -> None:
        """Stop reading the source; what is buffered stays for the next start."""
        self._stopping.set()

    def _refresh(self) -> None:
        s = self._buffer.stats()
        self.stats.buffered_messages = s.messages
        self.stats.buffered_readings = s.readings
        self.stats.buffer_bytes = s.bytes
        self.stats.dropped_readings = s.dropped_readings
        self.stats.oldest_age_s = (
            max(0.0, time.time() - s.oldest_ts_ms / 1000) if s.oldest_ts_ms else 0.0
        )

    async def run(self) -> AgentStats:
        if self._config.metrics_port is not None:
            self.metrics = MetricsServer(
                host=self._config.metrics_host,
                port=self._config.metrics_port,
                token=(
                    self._config.metrics_token.get_secret_value()
                    if self._config.metrics_token
                    else None
                ),
                samples=self.stats.samples,
                labels={"agent": self._config.client_id},
                healthy=lambda: self.stats.connected,
            )
            await self.metrics.start()
        try:
            await self._call(self._refresh)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._collect(), name="edge collect")
                forward = tg.create_task(self._forward_loop(), name="edge forward")
                ticker = tg.create_task(self._tick(), name="edge housekeeping")
                await forward
                ticker.cancel()
        finally:
            if self.metrics is not None:
                await self.metrics.stop()
            await self._call(self._buffer.close)
            self._io.shutdown(wait=True)
        self._log_stats("edge agent done")
        return self.stats

    def _log_stats(self, prefix: str) -> None:
        s = self.stats
        log.info(
            "%s: read=%d acknowledged=%d published=%d republished=%d buffered=%d "
            "dropped=%d reconnects=%d oldest=%.0fs",
            prefix,
            s.read,
            s.acknowledged,
            s.published_messages,
            s.republished_messages,
            s.buffered_readings,
            s.dropped_readings,
            s.reconnects,
            s.oldest_age_s,
        )

    async def _tick(self) -> None:
        last_log = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            dropped = await self._call(self._buffer.expire)
            if dropped:
                log.warning("buffer age limit: dropped %d readings", dropped)
            await self._call(self._refresh)
            if time.monotonic() - last_log >= self._config.stats_interval_s:
                last_log = time.monotonic()
                self._log_stats("edge agent")

    # -- source -> buffer --------------------------------------------------------------
    async def _collect(self) -> None:
        checkpoints = await self._call(self._buffer.last_seqs)
        resume: dict[tuple[MachinePath, Channel], tuple[int, int]] = {}
        for path in self._source.machines:
            for channel in (Channel.TELEMETRY, Channel.ENERGY):
                topic = self._publisher.topic(path, channel)
                if topic in checkpoints:
                    resume[(path, channel)] = checkpoints[topic]
        size = self._config.batch_max_readings
        batches = self._source.batches(resume).__aiter__()
        try:
            while True:
                # A live source may stay silent for long: wait for it or for a stop.
                following = asyncio.ensure_future(anext(batches))
                stop = asyncio.ensure_future(self._stopping.wait())
                await asyncio.wait({following, stop}, return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                if not following.done():
                    following.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await following
                    break
                try:
                    groups = following.result()
                except StopAsyncIteration:
                    break
                entries = []
                for path, channel, readings in groups:
                    self.stats.read += len(readings)
                    topic = self._publisher.topic(path, channel)
                    for i in range(0, len(readings), size):
                        chunk = readings[i : i + size]
                        try:
                            payload = encode(chunk)
                        except ValueError as exc:  # NaN or infinity from a source
                            self.stats.unencodable_readings += len(chunk)
                            log.error("%s: %d readings not sent: %s", topic, len(chunk), exc)
                            continue
                        entries.append(
                            NewEntry(
                                topic=topic,
                                payload=payload,
                                count=len(chunk),
                                first_ts_ms=int(chunk[0]["ts"]),
                                last_seq=int(chunk[-1]["seq"]),
                                last_ts_ms=int(chunk[-1]["ts"]),
                            )
                        )
                refused = await self._call(self._buffer.put, entries)
                if refused:
                    log.warning("buffer full (reject_new): refused %d readings", refused)
                self._new_data.set()
                if self._stopping.is_set():
                    break
        finally:
            with contextlib.suppress(Exception):
                await batches.aclose()  # type: ignore[attr-defined]
            self._source_done = True
            self._new_data.set()

    # -- buffer -> broker --------------------------------------------------------------
    async def _forward_loop(self) -> None:
        backoff = Backoff(self._config.reconnect_initial_s, self._config.reconnect_max_s)
        first = True
        takeover = TakeoverWatch()
        while True:
            if self._stopping.is_set() and not first:
                # Stopped while away from the broker: what is buffered stays for next time.
                return
            try:
                async with self._publisher.connect() as conn:
                    if not first:
                        self.stats.reconnects += 1
                    first = False
                    self.stats.connected = True
                    backoff.reset()
                    self.stats.status_messages += await conn.announce(
                        online=True, client_id=self._config.client_id
                    )
                    log.info("connected to %s", self._publisher.endpoint)
                    await self._forward(conn)
                    self.stats.status_messages += await conn.announce(
                        online=False, client_id=self._config.client_id
                    )
                    self.stats.connected = False
                    return
            except BrokerAuthError:
                self.stats.connected = False
                raise
            except PublishError as exc:
                # A session the broker had accepted, lost: another gateway with our id?
                if self.stats.connected and takeover.lost():
                    raise ClientIdConflict(
                        takeover.message(self._config.client_id, "FACTORY_EDGE__CLIENT_ID")
                        + " (or the broker refuses what we publish: see its log)"
                    ) from exc
                self.stats.connected = False
                first = False
                if self._stopping.is_set():
                    log.warning("%s; stopping with %d readings buffered", exc,
                                self.stats.buffered_readings)  # fmt: skip
                    return
                wait = backoff.next()
                log.warning("%s; reconnecting in %.1f s", exc, wait)
                await sleep_or_stop(self._stopping, wait)

    async def _forward(self, conn: Connection) -> None:
        """Send until the source is done and the buffer is empty; raise on a lost connection."""
        limit = asyncio.Semaphore(self._config.max_inflight)
        acked: list[tuple[int, int]] = []
        inflight = 0
        lost: list[PublishError] = []
        last_id = 0

        async def send(group: list[Entry]) -> None:
            nonlocal inflight
            try:
                await conn.send(group[0].topic, joined(group))
                acked.extend((entry.id, entry.count) for entry in group)
            except PublishError as exc:
                lost.append(exc)
            finally:
                inflight -= 1
                limit.release()
            if lost or len(acked) >= 256 or inflight == 0:
                self._new_data.set()

        async def flush() -> None:
            if acked:
                batch = acked[:]
                del acked[: len(batch)]
                await self._call(self._buffer.ack, [i for i, _ in batch])
                self.stats.acknowledged += sum(n for _, n in batch)
                if self._on_progress is not None:
                    self._on_progress(self.stats)

        try:
            async with asyncio.TaskGroup() as tg:
                while True:
                    if lost:
                        raise lost[0]
                    await flush()
                    entries = await self._call(
                        self._buffer.peek, last_id, 4 * max(self._config.max_inflight, 64)
                    )
                    if not entries:
                        if self._source_done and inflight == 0 and not acked:
                            await self._call(self._refresh)
                            if self.stats.buffered_messages == 0:
                                return
                        self._new_data.clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._new_data.wait(), 0.05)
                        continue
                    for group in coalesce(entries, self._config.batch_max_readings):
                        await limit.acquire()
                        if lost:
                            limit.release()
                            break
                        if group[0].id <= self._high_water:
                            self.stats.republished_messages += 1
                        self.stats.published_messages += 1
                        inflight += 1
                        tg.create_task(send(group), name=f"publish {group[0].id}")
                        last_id = max(last_id, group[-1].id)
        except BaseExceptionGroup as group:
            # A lost connection fails the sends in flight; report it as one PublishError.
            failure = _only(group, PublishError)
            if failure is None:
                raise
            raise failure from None
        finally:
            self._high_water = max(self._high_water, last_id)
            # Keep the PUBACKs we did get, whatever happened to the connection.
            await asyncio.shield(flush())


def coalesce(entries: list[Entry], max_readings: int) -> list[list[Entry]]:
    """Buffered messages of one topic joined into one, up to ``max_readings`` readings.

    A source that hands over little at a time (a poller: one machine's second) buffers
    one small message per topic and poll; sent one by one after an outage they would cost
    a PUBACK each. Each topic's messages keep their order; the joined messages go out in
    the order of their first entry. ``entries`` are in id order.
    """
    open_: dict[str, list[Entry]] = {}
    counts: dict[str, int] = {}
    out: list[list[Entry]] = []
    for entry in entries:
        group = open_.get(entry.topic)
        if group is None or counts[entry.topic] + entry.count > max_readings:
            group = open_[entry.topic] = []
            counts[entry.topic] = 0
            out.append(group)
        group.append(entry)
        counts[entry.topic] += entry.count
    return out


def joined(group: list[Entry]) -> bytes:
    """One JSON array of the readings of ``group``'s messages (each a JSON array)."""
    if len(group) == 1:
        return group[0].payload
    return b"[" + b",".join(e.payload[1:-1] for e in group if e.payload != b"[]") + b"]"


def _only(group: BaseExceptionGroup[BaseException], kind: type[E]) -> E | None:
    """The first ``kind`` in ``group`` if nothing but ``kind`` and cancellations is in it."""
    leaves: list[BaseException] = []

    def walk(g: BaseExceptionGroup[BaseException]) -> None:
        for e in g.exceptions:
            if isinstance(e, BaseExceptionGroup):
                walk(e)
            else:
                leaves.append(e)

    walk(group)
    if any(not isinstance(e, kind | asyncio.CancelledError) for e in leaves):
        return None
    found = [e for e in leaves if isinstance(e, kind)]
    return found[0] if found else None


def build_agent(
    source: Source,
    *,
    endpoint: Any,
    config: EdgeConfig,
    root: str,
    on_progress: Callable[[AgentStats], None] | None = None,
) -> EdgeAgent:
    """An agent with the buffer and publisher its configuration asks for."""
    from edge_agent.buffer import open_buffer

    publisher = MqttPublisher(
        endpoint=endpoint, config=config, root=root, machines=list(source.machines)
    )
    buffer = open_buffer(
        config.buffer,
        path=config.buffer_path,
        max_bytes=config.buffer_max_bytes,
        max_age_s=config.buffer_max_age_s,
        policy=config.buffer_policy,
        synchronous=config.buffer_synchronous,
    )
    return EdgeAgent(source, buffer, publisher, config, on_progress=on_progress)
