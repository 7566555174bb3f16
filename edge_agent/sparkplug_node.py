"""The edge agent as a Sparkplug B edge node (``FACTORY_EDGE__PAYLOAD=sparkplug``).

One node per agent: group ``FACTORY_EDGE__SPARKPLUG_GROUP`` (default: the site of its first
machine), edge_node_id its client id. Each machine's state and counters are one device
(device_id: the machine), each energy meter's readings another (``MACHINE.energy``). Every
device's birth carries the metric ``Factory/Path`` (``site/area/line/machine``), so our
ingest needs no mapping for our own agents.

- **Births**: NBIRTH (``bdSeq``, ``Node Control/Rebirth``) on every connection; a device's
  DBIRTH, with every metric, its alias and datatype and the current values, before its
  first data of the session, and again when a reading brings a metric the birth lacked (a
  new sensor).
- **Data**: one DDATA per reading, by alias, with the metrics that changed (each stamped
  with the reading's time; none changed: an empty DDATA stamped with it), ``seq`` + 1 per
  message of the node. Sent with QoS 1, unlike the specification's QoS 0 for data: a
  reading leaves the durable buffer only when the broker acknowledged it, as with JSON.
- **Death**: the NDEATH with the session's ``bdSeq`` is the connection's will; a clean stop
  publishes it too. ``bdSeq`` is kept beside the buffer (``<buffer>.bdseq``) and goes up by
  one per connection, across restarts.
- **Rebirth**: an NCMD ``Node Control/Rebirth`` = true makes the node publish its NBIRTH
  and every device's DBIRTH again (``seq`` from 0).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telemetry.models import Channel
from telemetry.sparkplug import (
    BDSEQ,
    BOOLEAN,
    DOUBLE,
    NAMESPACE,
    REBIRTH,
    STRING,
    UINT64,
    Metric,
    Value,
    decode_payload,
    encode_payload,
)
from telemetry.topic import MachinePath

PATH_METRIC = "Factory/Path"
# Our fields and the metric each becomes (names our ingest's defaults find).
MACHINE_METRICS = {
    "state": ("State", STRING), "reason": ("Reason", STRING),
    "total_count": ("Counts/Total", UINT64), "good_count": ("Counts/Good", UINT64),
    "ideal_cycle_s": ("Ideal Cycle Time", DOUBLE), "product": ("Product", STRING),
}  # fmt: skip
METER_METRICS = {
    "energy_kwh": ("Energy/kWh", DOUBLE), "power_kw": ("Power/kW", DOUBLE),
    "power_factor": ("Power Factor", DOUBLE), "voltage_v": ("Voltage", DOUBLE),
}  # fmt: skip


def device_id(path: MachinePath, channel: Channel) -> str:
    return path.machine if channel is Channel.TELEMETRY else f"{path.machine}.energy"


def metrics_of(channel: Channel, reading: dict[str, Any]) -> dict[str, tuple[int, Value]]:
    """A reading (our JSON object) as Sparkplug metrics: {name: (datatype, value)}."""
    table = MACHINE_METRICS if channel is Channel.TELEMETRY else METER_METRICS
    out: dict[str, tuple[int, Value]] = {}
    for key, (name, datatype) in table.items():
        if key in reading:
            v = reading[key]
            out[name] = (datatype, float(v) if datatype == DOUBLE and v is not None else v)
        elif key in ("reason", "product"):
            out[name] = (datatype, "")  # no reason now: an empty string, not the last one
    for sensor, value in (reading.get("sensors") or {}).items():
        out[f"Sensors/{sensor}"] = (DOUBLE, float(value))
    return out


@dataclass(slots=True)
class _Device:
    path: MachinePath
    aliases: dict[str, int] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)
    values: dict[str, Value] = field(default_factory=dict)
    born: bool = False


class BdSeq:
    """The birth/death sequence number, kept in a file across restarts (0..255)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def next(self) -> int:
        try:
            last = int(json.loads(self.path.read_text())["bdSeq"])
        except (OSError, ValueError, KeyError, TypeError):
            last = -1
        value = (last + 1) % 256
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"bdSeq": value}))
        tmp.replace(self.path)
        return value


class SparkplugNode:
    """One session of the node: its seq, and each device's aliases and current values."""

    def __init__(self, group: str, node: str, bd_seq: int) -> None:
        self.group, self.node, self.bd_seq = group, node, bd_seq
        self.seq = -1
        self.devices: dict[str, _Device] = {}
        self._next_alias = 1
        self.dbirths = 0
        """Device births published: each becomes a status reading at a host (ours)."""

    def topic(self, kind: str, device: str | None = None) -> str:
        tail = f"/{device}" if device is not None else ""
        return f"{NAMESPACE}/{self.group}/{kind}/{self.node}{tail}"

    def _seq(self) -> int:
        self.seq = (self.seq + 1) % 256
        return self.seq

    def death(self) -> tuple[str, bytes]:
        metrics = [Metric(BDSEQ, None, UINT64, self.bd_seq)]
        return self.topic("NDEATH"), encode_payload(int(time.time() * 1000), None, metrics)

    def births(self) -> list[tuple[str, bytes]]:
        """NBIRTH, then the DBIRTH of every device known (a new session or a rebirth)."""
        self.seq = -1
        metrics = [Metric(BDSEQ, None, UINT64, self.bd_seq),
                   Metric(REBIRTH, None, BOOLEAN, False)]  # fmt: skip
        out = [(self.topic("NBIRTH"), encode_payload(int(time.time() * 1000), self._seq(),
                                                      metrics))]  # fmt: skip
        for name, device in self.devices.items():
            out.append(self._dbirth(name, device, int(time.time() * 1000)))
        return out

    def _dbirth(self, name: str, device: _Device, ts: int) -> tuple[str, bytes]:
        device.born = True
        self.dbirths += 1
        metrics = [Metric(PATH_METRIC, self._alias(device, PATH_METRIC, STRING), STRING,
                          str(device.path), timestamp=ts)]  # fmt: skip
        for metric, value in device.values.items():
            if metric != PATH_METRIC:
                metrics.append(Metric(metric, device.aliases[metric], device.types[metric],
                                      value, timestamp=ts))  # fmt: skip
        return self.topic("DBIRTH", name), encode_payload(ts, self._seq(), metrics)

    def _alias(self, device: _Device, metric: str, datatype: int) -> int:
        if metric not in device.aliases:
            device.aliases[metric] = self._next_alias
            device.types[metric] = datatype
            self._next_alias += 1
        return device.aliases[metric]

    def messages(self, path: MachinePath, channel: Channel,
                 readings: list[dict[str, Any]]) -> list[tuple[str, bytes]]:  # fmt: skip
        """The DBIRTH (when needed) and DDATA of these readings of one device, in order."""
        name = device_id(path, channel)
        device = self.devices.setdefault(name, _Device(path))
        out = []
        for reading in readings:
            ts = int(reading["ts"])
            metrics = metrics_of(channel, reading)
            new = [m for m in metrics if m not in device.aliases]
            for metric, (datatype, _) in metrics.items():
                self._alias(device, metric, datatype)
            if new or not device.born:
                device.values.update({m: v for m, (_, v) in metrics.items()})
                out.append(self._dbirth(name, device, ts))
                continue
            changed = [Metric(None, device.aliases[m], dt, v, timestamp=ts)
                       for m, (dt, v) in metrics.items() if device.values.get(m) != v]  # fmt: skip
            device.values.update({m: v for m, (_, v) in metrics.items()})
            out.append((self.topic("DDATA", name), encode_payload(ts, self._seq(), changed)))
        return out

    def command(self, payload: bytes) -> bool:
        """True when an NCMD asks for a rebirth."""
        try:
            metrics = decode_payload(payload).metrics
        except ValueError:
            return False
        return any(m.name == REBIRTH and m.value is True for m in metrics)
