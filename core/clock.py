"""The plant's clock, defined once: the lengths of an hour, a day and the 15-minute block
(the demand and tariff interval, the forecast's slot), and the plant's local days.

Times are epoch milliseconds (UTC) everywhere; a plant's local day and shifts are in its
calendar's time zone (``Asia/Ho_Chi_Minh`` for the example plants), so midnight is found in
that zone, never by dividing epoch time by a day.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from zoneinfo import ZoneInfo

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
BLOCK_MS = 900_000
"""The 15-minute block: demand, tariff bands, the energy accounts and the load forecast."""
DAY_BLOCKS = DAY_MS // BLOCK_MS


@cache
def zone(name: str) -> ZoneInfo:
    """The time zone of an IANA name (cached: looked up once per process)."""
    return ZoneInfo(name)


def floor_block(ms: int) -> int:
    """The start of the 15-minute block that holds ``ms``."""
    return ms // BLOCK_MS * BLOCK_MS


def local(ms: int, tz: dt.tzinfo) -> dt.datetime:
    """``ms`` as a time of day in ``tz``."""
    return dt.datetime.fromtimestamp(ms / 1000, tz)


def midnight(day: dt.date, tz: dt.tzinfo) -> int:
    """The start of ``day`` in ``tz``, in epoch ms."""
    return int(dt.datetime.combine(day, dt.time(), tz).timestamp() * 1000)


def local_midnight(ms: int, tz: dt.tzinfo, days_back: int = 0) -> int:
    """The start of the local day that holds ``ms`` (``days_back`` days earlier)."""
    return midnight(local(ms, tz).date() - dt.timedelta(days=days_back), tz)


def next_midnight(ms: int, tz: dt.tzinfo) -> int:
    """The start of the local day after the one that holds ``ms``."""
    return midnight(local(ms, tz).date() + dt.timedelta(days=1), tz)


def iso(ms: int) -> str:
    """``ms`` as ISO 8601 in UTC with a ``Z`` (how reports and the API write times)."""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat().replace("+00:00", "Z")
