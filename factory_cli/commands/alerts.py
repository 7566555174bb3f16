"""`factory alerts`: the alerts kept in the store, their notifications, acknowledgements."""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from core.errors import ConfigError
from factory_cli.options import add_command, add_plant, load_plant_or_none, stdout_console
from factory_cli.settings import Settings

NAME = "alerts"


def add_parser(sub: object) -> argparse.ArgumentParser:
    p = add_command(
        sub,
        NAME,
        help="alerts and their notifications: list, acknowledge, evaluate once, retry",
        description=(
            "The alerts that `factory aggregate` raises from the rules of [alerts] "
            "(FACTORY_ALERTS__*: breakdowns, silent machines and gateways, OEE and "
            "availability below target over the shift, anomalies, demand near the contracted "
            "maximum, energy per good unit above baseline, dead letters), and the "
            "notifications sent for them. 'list' shows them (--open: only those still "
            "firing), 'notices' the notifications and their delivery, 'ack ID' acknowledges "
            "one, 'check' evaluates the rules once and delivers what is due (for cron, or to "
            "try a configuration), 'retry' sends failed notifications again. "
            "Rules and channels: docs/operations.md."
        ),
    )
    p.add_argument("action", choices=("list", "notices", "ack", "check", "retry"))
    p.add_argument("id", nargs="?", help="ack: the alert's id (rule|subject|fired_ms)")
    p.add_argument("--open", action="store_true", help="list: only alerts still firing")
    p.add_argument("--by", default="cli", help="ack: who acknowledges (default 'cli')")
    p.add_argument("--format", choices=("table", "json"), default="table")
    add_plant(p)
    return p


def run(args: argparse.Namespace, settings: Settings) -> int:
    from alerting.service import alerting, check

    plant = load_plant_or_none(args.plant or settings.plant)
    if args.action == "ack" and not args.id:
        raise ConfigError("ack needs the alert's id: `factory alerts list` shows it")

    async def go() -> object:
        from alerting.notifier import read_notices
        from alerting.state import acknowledge, read_alerts
        from core.clock import DAY_MS

        now = int(time.time() * 1000)
        start = now - settings.alerts.history_days * DAY_MS
        async with alerting(settings, plant) as (evaluator, notifier):
            reader = evaluator.reader
            if args.action == "list":
                alerts = await read_alerts(reader, start, now + 1)
                return [a.as_dict(now) for a in alerts if a.open or not args.open]
            if args.action == "notices":
                return [n.as_dict() for n in await read_notices(reader, start, now + 1)]
            if args.action == "ack":
                try:
                    alert = await acknowledge(evaluator.store, reader, args.id, args.by)
                except ValueError as exc:
                    raise ConfigError(str(exc)) from None
                except KeyError:
                    raise ConfigError(
                        f"no alert {args.id!r}; `factory alerts list` shows them"
                    ) from None
                return alert.as_dict(now)
            if args.action == "retry":
                again = await notifier.retry_failed(now)
                delivered, failed = await notifier.deliver_due(now)
                return {"retried": again, "delivered": delivered, "failed": failed}
            fired, resolved = await check(evaluator, notifier, now)
            delivered, failed = await notifier.deliver_due(now)
            return {
                "fired": [a.as_dict(now) for a in fired],
                "resolved": [a.as_dict(now) for a in resolved],
                "delivered": delivered,
                "failed": failed,
            }

    result = asyncio.run(go())
    if args.format == "json":
        print(json.dumps(result, indent=2))
        return 0
    _table(args.action, result)
    return 0


def _table(action: str, result: object) -> None:
    from rich.table import Table

    console = stdout_console()
    if isinstance(result, dict) and action in ("check", "retry"):
        for key in ("fired", "resolved"):
            for a in result.get(key, []):
                console.print(f"{key}: [{a['rule']}] {a['message']}  (id {a['id']})")
        console.print(", ".join(f"{k} {v}" for k, v in result.items() if isinstance(v, int)))
        return
    if isinstance(result, dict):
        console.print(f"acknowledged by {result['acked_by']}: {result['message']}")
        return
    assert isinstance(result, list)
    if not result:
        console.print("none")
        return
    table = Table(*result[0].keys())
    for row in result:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(table)
