"""`factory deadletter`: list, show and re-ingest rejected messages."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError
from factory_cli.options import add_command, positive_int
from factory_cli.settings import Settings

if TYPE_CHECKING:
    from store import Store
    from store.base import DeadLetter, DeadLetters

NAME = "deadletter"


def add_parser(sub: object) -> argparse.ArgumentParser:
    p = add_command(
        sub,
        NAME,
        help="list, show and re-ingest rejected messages",
        description=(
            "What the ingest services rejected and why, kept in the store (FACTORY_STORE_URL) "
            "for every ingest process on every host. `list` (default) shows the newest; "
            "`show ID...` prints them in full; `reingest ID...` (or --all) decodes them again "
            "with the current code (after a fix of the schema or the device), writes those "
            "that now pass to the store and removes them."
        ),
    )
    p.add_argument("action", nargs="?", choices=("list", "show", "reingest"), default="list")
    p.add_argument("ids", nargs="*", type=positive_int, metavar="ID")
    p.add_argument("--all", action="store_true", help="with reingest: every dead letter")
    p.add_argument("--limit", type=positive_int, default=20, help="with list (default 20)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    return p


def _as_dict(d: DeadLetter) -> dict[str, Any]:
    return {
        "id": d.id,
        "received_ms": d.received_ms,
        "stage": d.stage,
        "topic": d.topic,
        "error": d.error,
        "payload": d.payload.decode("utf-8", "replace"),
        "payload_bytes": d.payload_bytes,
        "truncated": d.truncated,
        "source": d.source,
    }


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_run(args, settings))


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from store import open_store

    store = open_store(settings.store_url, token=settings.influx_token)
    await store.open()
    try:
        letters = store.deadletters(
            source="factory-deadletter",
            max_payload_bytes=settings.ingest.deadletter_max_payload_bytes,
        )
        if args.action == "reingest":
            return await _reingest(args, settings, store, letters)
        if args.action == "show":
            if not args.ids:
                raise ConfigError("deadletter show: name the ids to show, e.g. `show 3 4`")
            found = await letters.get(args.ids)
            missing = set(args.ids) - {d.id for d in found}
            if missing:
                print(f"no dead letter with id {sorted(missing)}", file=sys.stderr)
            print(json.dumps([_as_dict(d) for d in found], indent=2))
            return 1 if missing else 0
        newest = await letters.newest(args.limit)
        total = await letters.count()
    finally:
        await store.close()
    if args.format == "json":
        print(json.dumps([_as_dict(d) for d in newest], indent=2))
        return 0
    print(f"{total} dead letter(s) in {settings.store_url}; newest first:")
    for d in newest:
        when = datetime.fromtimestamp(d.received_ms / 1000, UTC).isoformat(timespec="seconds")
        print(f"#{d.id} {when} [{d.stage}, {d.source}] {d.topic}\n    {d.error}")
    return 0


async def _reingest(
    args: argparse.Namespace, settings: Settings, store: Store, letters: DeadLetters
) -> int:
    from ingest.deadletter import reingest

    ids = await letters.ids() if args.all else args.ids
    if not ids:
        raise ConfigError("deadletter reingest: name the ids, or use --all")
    result = await reingest(
        letters,
        ids,
        store,
        root=settings.topic_root,
        max_payload_bytes=settings.ingest.max_payload_bytes,
        max_readings=settings.ingest.max_readings_per_message,
    )
    print(
        f"re-ingested {len(result.stored)} dead letter(s), {result.readings} readings, "
        f"into {settings.store_url}"
    )
    for letter_id, reason in result.still_bad:
        print(f"#{letter_id} still rejected: {reason}")
    for letter_id in result.truncated:
        print(
            f"#{letter_id} kept only in part (payload over the dead-letter limit); cannot re-ingest"
        )
    return 0 if not result.still_bad and not result.truncated else 1
