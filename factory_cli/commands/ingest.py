"""`factory ingest`: MQTT -> validate -> store, acknowledging only what is stored."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from core.backoff import sleep_or_stop
from factory_cli.options import add_command
from factory_cli.runtime import at_least_info, call_when_set, run_until_stopped
from factory_cli.settings import Settings

NAME = "ingest"
log = logging.getLogger("factory.ingest")


def add_parser(sub: object) -> argparse.ArgumentParser:
    p = add_command(
        sub,
        NAME,
        help="run the ingest service until stopped (SIGINT or SIGTERM)",
        description=(
            "Subscribe to the broker, validate every message, write readings to the store and "
            "acknowledge each message only after its readings are stored. Rejected messages "
            "are kept in the dead-letter store. SIGINT or SIGTERM stops it within "
            "FACTORY_INGEST__STOP_TIMEOUT_S; what is not stored by then stays unacknowledged "
            "and the broker delivers it again."
        ),
    )
    p.add_argument(
        "--stats-every", type=float, default=10.0, help="seconds between counter log lines"
    )
    return p


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.service import IngestService
    from store import open_store

    async def main(stop: asyncio.Event) -> None:
        service = IngestService(
            endpoint=settings.mqtt_url,
            store=open_store(settings.store_url, token=settings.influx_token),
            config=settings.ingest,
            root=settings.topic_root,
        )

        async def report() -> None:
            while not await sleep_or_stop(stop, args.stats_every):
                s = service.stats
                log.info(
                    "received=%d readings=%d written=%d rejected=%d retries=%d",
                    s.received_messages,
                    s.received_readings,
                    s.written_readings,
                    s.rejected_messages,
                    s.write_retries,
                )

        tasks = [
            asyncio.create_task(report(), name="ingest stats log"),
            asyncio.create_task(call_when_set(stop, service.stop), name="ingest stop"),
        ]
        try:
            await service.run()
        finally:
            for task in tasks:
                task.cancel()

    at_least_info()
    print(
        f"ingest {settings.ingest.client_id}: {settings.mqtt_url} -> {settings.store_url} "
        "(dead letters kept there too: factory deadletter)",
        file=sys.stderr,
    )
    # The service itself gives up on unstored batches at its stop timeout; the margin
    # covers disconnecting and closing the store.
    run_until_stopped(main, deadline_s=settings.ingest.stop_timeout_s + 5)
    return 0
