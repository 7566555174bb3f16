"""Reconnecting: capped, jittered exponential backoff (the one schedule every retry loop
uses), a wait between attempts that a stop cuts short, and telling a lost session from
one another client takes."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """``next()`` gives the wait before the next attempt; ``reset()`` after a success.

    The base doubles from ``initial_s`` up to ``max_s``; each wait is the base
    times a jitter in [1 - ``jitter``, 1 + ``jitter``], so that many clients that
    lost the same server do not come back at the same instant.
    """

    initial_s: float
    max_s: float
    jitter: float = 0.2
    _base: float = field(init=False)

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s:
            raise ValueError("backoff needs 0 < initial_s <= max_s")
        self._base = self.initial_s

    def next(self) -> float:
        wait = self._base * random.uniform(1 - self.jitter, 1 + self.jitter)
        self._base = min(self._base * 2, self.max_s)
        return wait

    def reset(self) -> None:
        self._base = self.initial_s


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` between attempts, or less if ``stop`` is set; True when stopped."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


@dataclass(slots=True)
class TakeoverWatch:
    """Sessions the broker accepted and then closed: ``limit`` of them within ``window_s``
    is another live client with our client id, which takes the session each time it
    reconnects (MQTT allows one connection per client id). A flaky network fails to
    connect instead, so it does not count. No retry can fix a takeover."""

    limit: int = 5
    window_s: float = 60.0
    _lost: deque[float] = field(default_factory=deque)

    def lost(self) -> bool:
        """Record a session lost after the broker had accepted it; True: a takeover."""
        now = time.monotonic()
        self._lost.append(now)
        while self._lost[0] < now - self.window_s:
            self._lost.popleft()
        return len(self._lost) >= self.limit

    def message(self, client_id: str, setting: str) -> str:
        """What to tell the operator, naming the setting that fixes it."""
        return (
            f"the broker closed our session {len(self._lost)} times within {self.window_s:g} s, "
            f"each time after accepting it: another live process is using the client id "
            f"{client_id!r} (MQTT allows one connection per client id). Give each process "
            f"its own {setting}; stopping this one"
        )
