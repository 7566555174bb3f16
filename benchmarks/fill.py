"""Filling a store with the simulator's readings through the writer ingest uses."""

from __future__ import annotations

from simulators import Fleet
from simulators.faults import Faults, fleet_messages
from store import open_store, parse_store_url
from telemetry.codec import decode


async def fill(url: str, fleet: Fleet, *, per_write: int) -> int:
    """Write every reading of ``fleet`` to the store at ``url``, ``per_write`` messages of
    up to 1,000 readings per write; the number of readings written."""
    store = open_store(parse_store_url(url))
    await store.open()
    messages, _ = fleet_messages(fleet, Faults(), root="factory", batch=1000)
    batch, written = [], 0
    for topic, payload in messages:
        batch.append(decode(topic, payload))
        if len(batch) >= per_write:
            written += await store.write(batch)
            batch = []
    written += await store.write(batch)
    await store.close()
    return written
