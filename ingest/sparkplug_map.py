"""How a Sparkplug device's metrics become our readings: default metric names, the
conversion of values, and a machine's telemetry reading (``ingest/sparkplug.py`` keeps the
sessions)."""

from __future__ import annotations

import re
from collections.abc import Callable

from pydantic import ValidationError

from ingest.sparkplug_config import SparkplugDevice
from telemetry.codec import Message
from telemetry.models import NAME_PATTERN, Channel, MachineState, TelemetryReading
from telemetry.sparkplug import Value
from telemetry.topic import MachinePath
from telemetry.topic import Topic as OurTopic

DEFAULTS: dict[str, tuple[str, ...]] = {
    "state": ("state", "machine state", "status state", "machine status", "status"),
    "total_count": ("total count", "counts total", "count total", "production total",
                    "total parts", "total"),
    "good_count": ("good count", "counts good", "count good", "production good",
                   "good parts", "good"),
    "reason": ("reason", "stop reason", "downtime reason", "status reason"),
    "ideal_cycle_s": ("ideal cycle s", "ideal cycle time", "ideal cycle"),
    "product": ("product", "recipe"),
    "energy_kwh": ("energy kwh", "active energy import", "active energy", "energy import",
                   "total energy", "energy"),
    "power_kw": ("power kw", "active power", "total power", "power"),
    "power_factor": ("power factor", "pf"),
    "voltage_v": ("voltage v", "voltage"),
}  # fmt: skip
SEP = re.compile(r"[/._\-\s]+")
PATH_METRIC = "Factory/Path"
"""A birth metric of our own edge agent's devices: where they are (no mapping needed)."""
TELEMETRY_FIELDS = ("state", "total_count", "good_count", "reason", "ideal_cycle_s", "product")
ENERGY_FIELDS = ("energy_kwh", "power_kw", "power_factor", "voltage_v")
NAME = re.compile(NAME_PATTERN)


def norm(name: str) -> str:
    return SEP.sub(" ", name).strip().lower()


def telemetry_message(
    root: str,
    path: MachinePath,
    cfg: SparkplugDevice,
    values: dict[str, Value],
    ts: int,
    seq: int,
    value: Callable[[str], Value],
    metric: str,
    sensors: dict[str, str],
) -> Message:
    """A machine's reading from its device's current values; ``metric``: its state's name,
    ``sensors``: our sensor names and their metrics."""
    raw = value("state")
    if isinstance(raw, str) and not cfg.state_map:
        try:
            state = MachineState(SEP.sub("_", raw.strip()).upper())
        except ValueError:
            raise ValueError(f"state {raw!r} of metric {metric!r} is none of "
                             f"{', '.join(s.value for s in MachineState)}: set "
                             "state_map") from None  # fmt: skip
    else:
        code = str(int(raw)) if isinstance(raw, bool | int | float) else str(raw)
        found = cfg.state_map.get(code)
        if found is None:
            raise ValueError(f"state code {code} of metric {metric!r} is not in "
                             "state_map (codes -> RUNNING, IDLE, DOWN, ...)")  # fmt: skip
        state = found
    measured: dict[str, float] = {}
    for ours, theirs in sensors.items():
        v = values.get(theirs)
        if v is not None and not isinstance(v, str | bytes):
            measured[ours] = num(v)
    reason, product = value("reason"), value("product")
    reading = TelemetryReading(
        ts=ts, seq=seq, state=state, total_count=count(value("total_count"), "total_count"),
        good_count=count(value("good_count"), "good_count"),
        reason=str(reason) if reason not in (None, "") else None,
        ideal_cycle_s=opt(value("ideal_cycle_s")),
        product=str(product) if product not in (None, "") else None,
        sensors=measured or None,
    )  # fmt: skip
    return Message(OurTopic(path, Channel.TELEMETRY, root), (reading,))


def num(v: Value) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise TypeError(f"expected a number, got {v!r}")
    return float(v)


def opt(v: Value) -> float | None:
    return None if v is None else num(v)


def count(v: Value, what: str) -> int:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{what}: expected a whole number, got {v!r}")
    return v


def why(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'reading'}: {e['msg']}"
                         for e in exc.errors())  # fmt: skip
    return str(exc)
