"""The ingest pipeline: deliveries -> decode -> batch -> store -> PUBACK.

A batch is acknowledged only after the store confirms it. A message that does
not decode is kept as a dead letter and then acknowledged; the service goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from core.backoff import Backoff, TakeoverWatch, sleep_or_stop
from core.errors import ClientIdConflict
from core.metrics import MetricsServer
from ingest.config import IngestConfig
from ingest.errors import BrokerAuthError, BrokerError
from ingest.sparkplug import SparkplugDecoder
from ingest.stats import IngestStats
from ingest.subscriber import Delivery, Subscriber
from store import Store
from store.base import DeadLetter
from store.errors import StoreError
from telemetry.codec import DecodeError, Message, check_size, decode, encode
from telemetry.sparkplug import NAMESPACE
from telemetry.topic import DEFAULT_ROOT, subscription
from telemetry.urls import MqttEndpoint

log = logging.getLogger(__name__)
SPARKPLUG_PREFIX = NAMESPACE + "/"


class IngestService:
    def __init__(
        self,
        *,
        endpoint: MqttEndpoint,
        store: Store,
        config: IngestConfig,
        root: str = DEFAULT_ROOT,
        on_progress: Callable[[IngestStats], None] | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._root = root
        self._on_progress = on_progress
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._stopping = asyncio.Event()
        # Kept in the store itself: one list for every ingest process on every host.
        self.deadletters = store.deadletters(
            source=config.client_id, max_payload_bytes=config.deadletter_max_payload_bytes
        )
        self.stats = IngestStats()
        sp = config.sparkplug
        self.sparkplug = (
            SparkplugDecoder(sp, root=root, publish=lambda t, p: self.subscriber.publish(t, p))
            if sp.groups
            else None
        )
        filters = (subscription(root, config.share_group),
                   *(f"{NAMESPACE}/{g}/#" for g in sp.groups))  # fmt: skip
        self.subscriber = Subscriber(
            endpoint=endpoint,
            client_id=config.client_id,
            topic_filter=filters,
            on_delivery=self._on_delivery,
            keepalive_s=config.keepalive_s,
            ca_file=config.ca_file,
            cert_file=config.cert_file,
            key_file=config.key_file,
            mqtt_version=config.mqtt_version,
            session_expiry_s=config.session_expiry_s,
            receive_maximum=config.receive_maximum or min(config.max_pending_messages, 65_535),
        )
        self.ready = asyncio.Event()
        self.fatal_error: BrokerAuthError | ClientIdConflict | None = None
        self._store_ok = False
        self.metrics: MetricsServer | None = None

    def _on_delivery(self, delivery: Delivery) -> None:
        self._queue.put_nowait(delivery)
        if self._queue.qsize() >= self._config.max_pending_messages and not self.subscriber.paused:
            self.stats.paused += 1
            self.subscriber.pause()

    def stop(self) -> None:
        """Finish: stop reading, store and acknowledge what was received, disconnect, return.

        What cannot be stored within ``stop_timeout_s`` is left unacknowledged; the
        broker delivers it again to the next session.
        """
        self.subscriber.pause()
        self._stopping.set()

    def healthy(self) -> bool:
        return self.ready.is_set() and self._store_ok

    async def run(self) -> IngestStats:
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
                labels={"client_id": self._config.client_id},
                healthy=self.healthy,
            )
            await self.metrics.start()
        try:
            if not await self._retry(self._store.open, "open the store"):
                return self.stats  # stopped before the store could be opened
            self._store_ok = True
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._connection_loop(), name="ingest mqtt connection")
                writer = tg.create_task(self._batch_loop(), name="ingest batch writer")
                health = tg.create_task(self._watch_store(), name="ingest store health")
                tg.create_task(self._deadline(writer), name="ingest stop deadline")
                await writer
                health.cancel()
        finally:
            await self.subscriber.disconnect()
            await self._store.close()
            if self.metrics is not None:
                await self.metrics.stop()
        if self.fatal_error is not None:
            raise self.fatal_error
        return self.stats

    async def _deadline(self, writer: asyncio.Task[None]) -> None:
        await self._stopping.wait()
        try:
            await asyncio.wait_for(asyncio.shield(writer), self._config.stop_timeout_s)
        except TimeoutError:
            log.warning(
                "could not store everything within %.0f s of the stop; the broker keeps "
                "the unacknowledged messages for the next start",
                self._config.stop_timeout_s,
            )
            writer.cancel()
        except asyncio.CancelledError:
            pass

    async def _watch_store(self) -> None:
        while True:
            await asyncio.sleep(5)
            self._store_ok = await self._store.ping()

    async def _connection_loop(self) -> None:
        backoff = self._backoff()
        takeover = TakeoverWatch()
        while not self._stopping.is_set():
            # While paused (too much pending), a new connection could not read its
            # CONNACK; connect again once the writer has caught up.
            reading = asyncio.create_task(self.subscriber.reading.wait())
            stop = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({reading, stop}, return_when=asyncio.FIRST_COMPLETED)
            reading.cancel()
            stop.cancel()
            if self._stopping.is_set():
                return
            try:
                await self.subscriber.connect()
            except BrokerAuthError as exc:
                log.error("%s; stopping", exc)
                self.fatal_error = exc
                self.stop()
                return
            except BrokerError as exc:
                wait = backoff.next()
                log.warning("%s; retrying in %.1f s", exc, wait)
                await sleep_or_stop(self._stopping, wait)
                continue
            backoff.reset()
            self.ready.set()
            log.info("subscribed to %s", subscription(self._root, self._config.share_group))
            stop = asyncio.create_task(self._stopping.wait())
            lost = asyncio.create_task(self.subscriber.disconnected.wait())
            await asyncio.wait({stop, lost}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            lost.cancel()
            if not self._stopping.is_set():
                self.ready.clear()
                self.stats.reconnects += 1
                # The broker closes a session when another connection brings the same client
                # id (MQTT allows one): two such processes take it from each other in a loop.
                if takeover.lost():
                    self.fatal_error = ClientIdConflict(
                        takeover.message(
                            self._config.client_id,
                            "FACTORY_INGEST__CLIENT_ID (the unit factory-ingest@N does)",
                        )
                    )
                    log.error("%s", self.fatal_error)
                    self.stop()
                    return
                why = self.subscriber.last_reason  # MQTT 5: the broker says why
                log.warning("lost the broker connection%s; reconnecting",
                            f" ({why})" if why else "")  # fmt: skip

    def _decode(self, d: Delivery) -> list[Message] | DecodeError:
        """Our JSON, or Sparkplug B (stateful: deliveries are decoded in arrival order)."""
        if self.sparkplug is not None and d.topic.startswith(SPARKPLUG_PREFIX):
            try:
                check_size(d.payload, self._config.max_payload_bytes)
            except DecodeError as exc:
                return exc
            outcome = self.sparkplug.decode(d.topic, d.payload)
            if outcome.error is not None:
                return outcome.error
            messages = outcome.messages
        else:
            try:
                messages = [decode(
                    d.topic,
                    d.payload,
                    root=self._root,
                    max_payload_bytes=self._config.max_payload_bytes,
                    max_readings=self._config.max_readings_per_message,
                )]  # fmt: skip
            except DecodeError as exc:
                return exc
        # A device clock far ahead would write points into the future: refuse them.
        limit = self._config.max_future_s
        if limit is not None and messages:
            newest = max(r.ts for m in messages for r in m.readings)
            ahead = newest / 1000 - time.time()
            if ahead > limit:
                return DecodeError(
                    f"ts {newest} is {ahead:,.0f} s in the future (more than "
                    f"FACTORY_INGEST__MAX_FUTURE_S={limit:g}); check the device's clock"
                )
        return messages

    async def _next_batch(self) -> list[tuple[Delivery, list[Message] | DecodeError]]:
        """Wait for a first message, then gather until full, late or quiet."""
        batch: list[tuple[Delivery, list[Message] | DecodeError]] = []
        readings = 0

        def take(d: Delivery) -> None:
            nonlocal readings
            decoded = self._decode(d)
            batch.append((d, decoded))
            if not isinstance(decoded, DecodeError):
                readings += sum(len(m.readings) for m in decoded)

        get = asyncio.create_task(self._queue.get())
        stop = asyncio.create_task(self._stopping.wait())
        done, _ = await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if get not in done:
            get.cancel()
            while not self._queue.empty():
                take(self._queue.get_nowait())
            return batch
        take(get.result())
        deadline = time.monotonic() + self._config.batch_max_delay_s
        limit = self._config.batch_max_readings
        while readings < limit:
            while not self._queue.empty() and readings < limit:
                take(self._queue.get_nowait())
            remaining = deadline - time.monotonic()
            if remaining <= 0 or readings >= limit:
                break
            try:
                d = await asyncio.wait_for(
                    self._queue.get(), min(self._config.batch_linger_s, remaining)
                )
            except TimeoutError:
                break
            take(d)
        return batch

    async def _batch_loop(self) -> None:
        """Gather and decode the next batch while earlier ones are being written."""
        slots = asyncio.Semaphore(self._config.max_concurrent_writes)

        async def write(batch: list[tuple[Delivery, list[Message] | DecodeError]]) -> None:
            try:
                await self._process(batch)
            finally:
                slots.release()
            if self._queue.qsize() <= self._config.max_pending_messages // 2:
                self.subscriber.resume()
            if self._on_progress is not None:
                self._on_progress(self.stats)

        async with asyncio.TaskGroup() as tg:
            while True:
                batch = await self._next_batch()
                if not batch:
                    if self._stopping.is_set():
                        return
                    continue
                await slots.acquire()
                tg.create_task(write(batch), name="ingest write")

    async def _process(self, batch: list[tuple[Delivery, list[Message] | DecodeError]]) -> None:
        good: list[Message] = []
        letters: list[DeadLetter] = []
        self.stats.received_messages += len(batch)
        for d, decoded in batch:
            if isinstance(decoded, DecodeError):
                letters.append(DeadLetter(topic=d.topic, payload=d.payload, error=decoded.reason))
                log.warning("rejected message on %r: %s", d.topic[:200], decoded.reason)
                continue
            good.extend(decoded)
            self.stats.received_readings += sum(len(m.readings) for m in decoded)
        if good:
            started = time.monotonic()
            letters.extend(await self._write(good))
            stored_ms = time.time() * 1000
            self.stats.batch_seconds_sum += time.monotonic() - started
            self.stats.lags_s.extend((stored_ms - r.ts) / 1000 for m in good for r in m.readings)
        if letters:
            if not await self._retry(lambda: self.deadletters.add(letters), "keep dead letters"):
                return  # stopped: unacknowledged, so the broker delivers them again
            self.stats.rejected_messages += len(letters)
            for letter in letters:
                key = letter.error.split(":")[0][:80]
                self.stats.reasons[key] = self.stats.reasons.get(key, 0) + 1
        for d, _ in batch:
            self.subscriber.ack(d)
        self.stats.batches += 1

    async def _write(self, messages: list[Message]) -> list[DeadLetter]:
        """Write with retries; a batch the store refuses for good becomes dead letters."""
        backoff = self._backoff()
        while True:
            try:
                written = await self._store.write(messages)
                self.stats.written_readings += written  # not `+= await`: writes overlap
                self._store_ok = True
                return []
            except StoreError as exc:
                if exc.action == "drop":
                    if len(messages) > 1:
                        # Find the culprits: write each message on its own.
                        out: list[DeadLetter] = []
                        for m in messages:
                            out.extend(await self._write([m]))
                        return out
                    log.error("store refused a message: %s", exc)
                    return [
                        DeadLetter(
                            topic=str(messages[0].topic),
                            payload=encode(messages[0].readings),
                            error=str(exc),
                            stage="store",
                        )
                    ]
                self.stats.write_retries += 1
                self._store_ok = False
                wait = max(backoff.next(), exc.retry_after_s or 0.0)
                log.warning("store write failed (%s); retrying in %.1f s", exc, wait)
                await asyncio.sleep(wait)

    def _backoff(self) -> Backoff:
        return Backoff(self._config.retry_initial_s, self._config.retry_max_s)

    async def _retry(self, op: Callable[[], Awaitable[None]], what: str) -> bool:
        """Retry ``op`` until it succeeds (True) or the service is stopped (False)."""
        backoff = self._backoff()
        while True:
            try:
                await op()
                return True
            except (StoreError, OSError) as exc:
                if self._stopping.is_set():
                    log.warning("cannot %s (%s); stopping", what, exc)
                    return False
                wait = backoff.next()
                log.warning("cannot %s (%s); retrying in %.1f s", what, exc, wait)
                await sleep_or_stop(self._stopping, wait)
