"""The topic namespace: ``{root}/v1/{site}/{area}/{line}/{machine}/{channel}``.

Every level matches ``[A-Za-z0-9_-]{1,64}``, which keeps MQTT wildcards,
separators and line-protocol control characters out by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from telemetry.errors import WireError
from telemetry.models import Channel

VERSION = "v1"
DEFAULT_ROOT = "factory"
_LEVEL = re.compile(r"[A-Za-z0-9_-]{1,64}")


class TopicError(WireError):
    """A topic or a name that does not follow the namespace."""


def check_name(value: str, what: str = "name") -> str:
    """Return ``value`` if it is a valid topic level, else raise :class:`TopicError`."""
    if not isinstance(value, str) or not _LEVEL.fullmatch(value):
        raise TopicError(f"invalid {what} {value!r}: use 1 to 64 characters from A-Z a-z 0-9 _ -")
    return value


def check_root(root: str) -> str:
    """A root is one or more valid levels separated by ``/``."""
    for level in root.split("/"):
        check_name(level, "topic root level")
    return root


@dataclass(frozen=True, slots=True, order=True)
class MachinePath:
    """Where a machine sits in the plant hierarchy."""

    site: str
    area: str
    line: str
    machine: str

    def __post_init__(self) -> None:
        for what in ("site", "area", "line", "machine"):
            check_name(getattr(self, what), what)

    def __str__(self) -> str:
        return f"{self.site}/{self.area}/{self.line}/{self.machine}"

    @classmethod
    def parse(cls, text: str) -> MachinePath:
        """``site/area/line/machine`` as a path; :class:`TopicError` when it is not one."""
        parts = text.split("/")
        if len(parts) != 4 or not all(_LEVEL.fullmatch(p) for p in parts):
            raise TopicError("machine: give site/area/line/machine ([A-Za-z0-9_-] names)")
        return cls(*parts)

    def key(self, level: Literal["site", "area", "line", "machine"]) -> str:
        """The path down to ``level``: ``site``, ``site/area``, ``site/area/line`` or all."""
        depth = {"site": 1, "area": 2, "line": 3, "machine": 4}[level]
        return "/".join((self.site, self.area, self.line, self.machine)[:depth])


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic: the machine it is about and the channel."""

    path: MachinePath
    channel: Channel
    root: str = DEFAULT_ROOT

    def __str__(self) -> str:
        return f"{self.root}/{VERSION}/{self.path}/{self.channel.value}"

    @classmethod
    def parse(cls, topic: str, root: str = DEFAULT_ROOT) -> Topic:
        """Parse a topic received from the broker; raise :class:`TopicError` with the reason."""
        prefix = f"{root}/{VERSION}/"
        if not topic.startswith(prefix):
            raise TopicError(f"topic {topic[:200]!r} does not start with {prefix!r}")
        levels = topic[len(prefix) :].split("/")
        if len(levels) != 5:
            raise TopicError(
                f"topic {topic[:200]!r} has {len(levels)} levels after {prefix!r}; "
                "expected site/area/line/machine/channel"
            )
        site, area, line, machine, channel = levels
        try:
            ch = Channel(channel)
        except ValueError:
            raise TopicError(
                f"unknown channel {channel[:64]!r}: expected one of "
                + ", ".join(c.value for c in Channel)
            ) from None
        return cls(MachinePath(site, area, line, machine), ch, root)


def subscription(root: str = DEFAULT_ROOT, share_group: str | None = None) -> str:
    """The subscription filter for every machine and channel below ``root``."""
    check_root(root)
    topic = f"{root}/{VERSION}/+/+/+/+/+"
    if share_group:
        check_name(share_group, "shared subscription group")
        topic = f"$share/{share_group}/{topic}"
    return topic
