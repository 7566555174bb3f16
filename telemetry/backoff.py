"""Capped, jittered exponential backoff: the one schedule every retry loop uses."""

from __future__ import annotations

import random
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
