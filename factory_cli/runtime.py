"""How a command runs: logging set up once, and a stop that works in every state.

A long-running command (edge, ingest, kpi, serve) runs as one asyncio task. The
first SIGINT or SIGTERM sets its stop event: the command finishes what it holds
(the edge agent keeps its buffer, ingest acknowledges only what it stored) and
returns. Whatever it is waiting for (a broker, a store, a device), it is cancelled
once its stop deadline has passed; a second signal cancels it at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from factory_cli.settings import Settings

T = TypeVar("T")
READER_STOP_DEADLINE_S = 10.0
"""`factory aggregate` and `factory serve` hold nothing that must be kept: what they compute at a
stop is abandoned after this long and redone at the next start."""
log = logging.getLogger("factory")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc)


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)


def at_least_info() -> None:
    """A long-running service reports its connections and counters."""
    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)


class Stopped(Exception):
    """The command was cancelled at its stop deadline (or by a second signal)."""


def run_until_stopped(
    main: Callable[[asyncio.Event], Coroutine[Any, Any, T]], *, deadline_s: float
) -> T:
    """Run ``main(stop)`` until it returns. SIGINT/SIGTERM set ``stop``; ``deadline_s``
    later (or at a second signal) ``main`` is cancelled and :class:`Stopped` raised."""

    async def runner() -> T:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        cancelled_by_us = False

        def cancel() -> None:
            nonlocal cancelled_by_us
            cancelled_by_us = True
            task.cancel()

        def on_signal(signum: int) -> None:
            if stop.is_set():
                log.warning("second %s: stopping now", signal.Signals(signum).name)
                cancel()
                return
            log.info("%s: stopping (at most %.0f s)", signal.Signals(signum).name, deadline_s)
            stop.set()
            loop.call_later(deadline_s, cancel)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            return await main(stop)
        except asyncio.CancelledError:
            if cancelled_by_us:
                raise Stopped(
                    f"stopped at the deadline of {deadline_s:g} s; what was not finished "
                    "is kept for the next start"
                ) from None
            raise
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    return asyncio.run(runner())


async def call_when_set(event: asyncio.Event, fn: Callable[[], None]) -> None:
    """Call ``fn`` once ``event`` is set (a service's own ``stop()``)."""
    await event.wait()
    fn()
