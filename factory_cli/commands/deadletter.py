"""`factory deadletter`: list, show and re-ingest rejected messages."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from factory_cli.options import add_command, positive_int
from factory_cli.settings import ConfigError, Settings

if TYPE_CHECKING:
    from ingest.deadletter import DeadLetter, DeadLetterStore, ReingestResult

NAME = "deadletter"


def add_parser(sub: object) -> argparse.ArgumentParser:
    p = add_command(
        sub,
        NAME,
        help="list, show and re-ingest rejected messages",
        description=(
            "What the ingest service rejected and why. `list` (default) shows the newest; "
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
    }


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.deadletter import DeadLetterStore

    path = settings.ingest.deadletter_path
    if not path.exists():
        print(f"no dead-letter store at {path}: nothing was rejected yet", file=sys.stderr)
        return 0
    store = DeadLetterStore(path)
    store.open_sync()
    try:
        if args.action == "reingest":
            return _reingest(args, settings, store)
        if args.action == "show":
            if not args.ids:
                raise ConfigError("deadletter show: name the ids to show, e.g. `show 3 4`")
            letters = store.get_sync(args.ids)
            missing = set(args.ids) - {d.id for d in letters}
            if missing:
                print(f"no dead letter with id {sorted(missing)}", file=sys.stderr)
            print(json.dumps([_as_dict(d) for d in letters], indent=2))
            return 1 if missing else 0
        letters = store.list_sync(limit=args.limit)
        total = store.count_sync()
    finally:
        store.close()
    if args.format == "json":
        print(json.dumps([_as_dict(d) for d in letters], indent=2))
        return 0
    print(f"{total} dead letter(s) in {path}; newest first:")
    for d in letters:
        when = datetime.fromtimestamp(d.received_ms / 1000, UTC).isoformat(timespec="seconds")
        print(f"#{d.id} {when} [{d.stage}] {d.topic}\n    {d.error}")
    return 0


def _reingest(args: argparse.Namespace, settings: Settings, letters: DeadLetterStore) -> int:
    from ingest.deadletter import reingest
    from store import open_store

    ids = letters.all_ids_sync() if args.all else args.ids
    if not ids:
        raise ConfigError("deadletter reingest: name the ids, or use --all")

    async def run() -> ReingestResult:
        writer = open_store(settings.store_url, token=settings.influx_token)
        await writer.open()
        try:
            return await reingest(
                letters,
                ids,
                writer,
                root=settings.topic_root,
                max_payload_bytes=settings.ingest.max_payload_bytes,
                max_readings=settings.ingest.max_readings_per_message,
            )
        finally:
            await writer.close()

    result = asyncio.run(run())
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
