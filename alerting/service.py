"""The alerting loop that `factory aggregate` runs beside the aggregation (and `factory alerts
check` runs once): evaluate the rules, write the notices, deliver them.

It runs in `factory aggregate` because that is the one long-running process per store that
already reads it on a schedule (the aggregation): one evaluator, so an alert fires once;
`factory serve` may run several times behind a proxy, and only shows and acknowledges.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal, Protocol

from alerting.config import AlertsConfig
from alerting.notifier import Notifier
from alerting.rules import Evaluator
from alerting.state import Alert
from analytics.config import AnalyticsConfig
from core.backoff import sleep_or_stop
from core.i18n import lang
from plant.model import Plant
from store import StoreSettings, open_reader, opened
from store.errors import ReaderError, StoreError

log = logging.getLogger("factory.alerts")


class AlertingSettings(StoreSettings, Protocol):
    """The settings alerting reads (``factory_cli.settings.Settings`` is one)."""

    @property
    def lang(self) -> Literal["en", "vi"]: ...

    @property
    def analytics(self) -> AnalyticsConfig: ...

    @property
    def alerts(self) -> AlertsConfig: ...


@asynccontextmanager
async def alerting(
    settings: AlertingSettings, plant: Plant | None
) -> AsyncIterator[tuple[Evaluator, Notifier]]:
    """An evaluator and a notifier on the configured store (open while in the block)."""
    async with opened(settings.store_url, token=settings.influx_token) as store:
        reader = open_reader(settings.store_url, token=settings.influx_token)
        cfg, said = settings.analytics, lang(settings.lang)
        evaluator = Evaluator(store, reader, settings.alerts, plant=plant, lang=said,
                              max_gap_s=cfg.max_gap_s, anomaly_z=cfg.anomaly_z)  # fmt: skip
        yield evaluator, Notifier(store, reader, settings.alerts, said)


async def check(
    evaluator: Evaluator, notifier: Notifier, now_ms: int | None = None
) -> tuple[list[Alert], list[Alert]]:
    """One evaluation; the notices of what fired and resolved are written (not yet sent)."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    fired, resolved = await evaluator.once(now)
    await notifier.enqueue(fired, resolved, now)
    return fired, resolved


async def run(stop: asyncio.Event, settings: AlertingSettings, plant: Plant | None) -> None:
    """The alerting service of `factory aggregate`: evaluate every ``alerts.every_s`` and
    deliver notices as they come, until ``stop`` (at once when ``every_s`` is 0: off)."""
    every = settings.alerts.every_s
    if every <= 0:
        return
    async with alerting(settings, plant) as (evaluator, notifier):
        log.info(
            "evaluating the alert rules every %.0f s (%d channel(s))",
            every,
            len(settings.alerts.channels),
        )
        delivery = asyncio.create_task(notifier.run(stop))
        try:
            while True:
                try:
                    await check(evaluator, notifier)
                except (ReaderError, StoreError) as exc:
                    log.warning("alert rules not evaluated: %s (again in %.0f s)", exc, every)
                if await sleep_or_stop(stop, every):
                    break
        finally:
            await delivery
