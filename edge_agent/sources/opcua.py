"""OPC UA machines: subscriptions to state, counters and sensors (asyncua client).

Every data change carries the PLC's source timestamp; the changes of one
instant become one telemetry reading with the machine's current values. A
heartbeat repeats the current values when nothing changes. A lost connection is
retried with capped backoff; nothing is invented while the machine is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from core.backoff import Backoff
from edge_agent.sources.base import Group
from edge_agent.sources.devices import DeviceStats, OpcUaMachine
from edge_agent.sources.machine_state import CurrentValues
from telemetry.models import Channel

log = logging.getLogger(__name__)


def _ms(stamp: datetime | None) -> int:
    if stamp is None:
        return int(time.time() * 1000)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return int(stamp.timestamp() * 1000)


class _Changes:
    """asyncua's subscription handler: queues (field, value, source ms)."""

    def __init__(self, fields: dict[str, str], queue: asyncio.Queue[tuple[str, Any, int]]) -> None:
        self._fields = fields  # node id text -> field
        self._queue = queue

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        field = self._fields.get(node.nodeid.to_string())
        if field is not None:
            self._queue.put_nowait((field, val, _ms(data.monitored_item.Value.SourceTimestamp)))

    def status_change_notification(self, status: Any) -> None:
        log.warning("OPC UA subscription status: %s", status)


async def watch_machine(
    m: OpcUaMachine,
    emit: Callable[[Group], None],
    *,
    first_seq: int = 0,
    stats: DeviceStats | None = None,
) -> None:
    """Subscribe forever; reconnect after a loss."""
    from asyncua import Client, ua  # type: ignore[attr-defined]

    stats = stats or DeviceStats()
    machine = CurrentValues(m, first_seq)
    nodes = {
        "state": m.state_node,
        "total_count": m.total_count_node,
        "good_count": m.good_count_node,
        **({"ideal_cycle_s": m.ideal_cycle_node} if m.ideal_cycle_node else {}),
        **({"reason": m.reason_node} if m.reason_node else {}),
        **{f"sensor:{k}": n for k, n in m.sensor_nodes.items()},
    }
    backoff = Backoff(0.5, m.reconnect_max_s)
    while True:
        client = Client(url=m.url, timeout=m.timeout_s)
        if m.username:
            client.set_user(m.username)
            client.set_password(m.password.get_secret_value() if m.password else "")
        queue: asyncio.Queue[tuple[str, Any, int]] = asyncio.Queue()
        try:
            if m.security:
                await client.set_security_string(m.security)
            async with client:
                if stats.came_back():
                    log.warning("OPC UA machine %s is back", m.path)
                backoff.reset()
                handles = {client.get_node(n): f for f, n in nodes.items()}
                by_id = {node.nodeid.to_string(): f for node, f in handles.items()}
                sub = await client.create_subscription(
                    m.publishing_interval_ms, _Changes(by_id, queue)
                )
                # Report a new source timestamp even when the value repeats, so a
                # heartbeat of the PLC is seen; sample on every write (interval 0).
                trigger = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp)
                await sub._subscribe(
                    list(handles),
                    mfilter=trigger,
                    queuesize=10_000,
                    sampling_interval=ua.Double(0.0),
                )
                await _pump(machine, queue, emit, client, stats)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # asyncua raises many kinds on a lost link
            stats.connected = False
            stats.errors += 1
            wait = backoff.next()
            log.warning(
                "OPC UA machine %s at %s: %s; retrying in %.1f s",
                m.path,
                m.url,
                exc or type(exc).__name__,
                wait,
            )
            with contextlib.suppress(Exception):
                await client.disconnect()
            await asyncio.sleep(wait)


async def _pump(
    machine: CurrentValues,
    queue: asyncio.Queue[tuple[str, Any, int]],
    emit: Callable[[Group], None],
    client: Any,
    stats: DeviceStats,
) -> None:
    """Turn changes into readings: one per distinct source timestamp, in time order."""
    m = machine.m
    last_emit = time.monotonic()
    while True:
        try:
            first = await asyncio.wait_for(queue.get(), timeout=min(m.heartbeat_s, 5.0))
        except TimeoutError:
            await client.check_connection()  # raises when the link is gone
            if time.monotonic() - last_emit >= m.heartbeat_s:
                reading = machine.reading(int(time.time() * 1000))
                if reading is not None:
                    emit((m.path, Channel.TELEMETRY, [reading]))
                    stats.readings += 1
                last_emit = time.monotonic()
            continue
        changes = [first]
        await asyncio.sleep(0)  # let the rest of this publish response arrive
        while not queue.empty():
            changes.append(queue.get_nowait())
        readings = []
        for ts in sorted({c[2] for c in changes}):
            for field, value, stamp in changes:
                if stamp == ts:
                    machine.values[field] = value
            reading = machine.reading(ts)
            if reading is not None:
                readings.append(reading)
        if readings:
            emit((m.path, Channel.TELEMETRY, readings))
            stats.readings += len(readings)
            last_emit = time.monotonic()
