"""Sparkplug B traffic of third-party edge nodes as our readings (the host application side).

What each message does, after Sparkplug 3.0:

- **NBIRTH** starts a node's session: its ``bdSeq`` and ``seq`` 0; the devices it had are
  forgotten until their DBIRTH. **DBIRTH** defines a device's metrics (names, aliases,
  datatypes) with their current values. Both become a reading at once (births carry
  values) and a ``status`` online.
- **NDATA/DDATA** carry changed metrics (by name or alias; report by exception): the
  device's current values are updated and become one full reading, stamped with the newest
  metric timestamp (else the payload's).
- **NDEATH** (with the birth's ``bdSeq``; another ``bdSeq`` is an old session's, ignored)
  and **DDEATH** mark devices offline (our ``status``).
- Each node message after NBIRTH carries ``seq`` + 1 (mod 256). A gap is counted and the
  node is asked for a rebirth (NCMD ``Node Control/Rebirth``); its data is still used.
  Data or a device birth before the node's birth, an unknown alias or a device never born
  is a dead letter with its reason, and the node is asked for a rebirth (at most once per
  ``rebirth_min_interval_s``).
- A birth that contradicts itself (one alias for two names, one name twice) is refused; a
  data value whose type differs from the birth's datatype is refused.

Which device is which machine comes from ``[[ingest.sparkplug.devices]]``; which metric is
which field from its ``metrics`` table, else from common names (``DEFAULTS``; case, ``/``,
``.``, ``_`` and ``-`` do not matter). A device with state and counters is a machine
(``telemetry``), one with energy and power a meter (``energy``); one can be both.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ingest.sparkplug_config import SparkplugConfig, SparkplugDevice
from telemetry.codec import DecodeError, Message
from telemetry.models import (
    NAME_PATTERN,
    Channel,
    EnergyReading,
    MachineState,
    StatusReading,
    TelemetryReading,
)
from telemetry.sparkplug import (
    BDSEQ,
    BOOLEAN,
    NAMESPACE,
    REBIRTH,
    Metric,
    SparkplugError,
    Topic,
    Value,
    decode_payload,
    encode_payload,
    parse_topic,
    typed,
)
from telemetry.topic import DEFAULT_ROOT, MachinePath
from telemetry.topic import Topic as OurTopic

log = logging.getLogger(__name__)

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
_SEP = re.compile(r"[/._\-\s]+")
_NAME = re.compile(NAME_PATTERN)


def norm(name: str) -> str:
    return _SEP.sub(" ", name).strip().lower()


@dataclass(slots=True)
class _Device:
    aliases: dict[int, str] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)
    values: dict[str, Value] = field(default_factory=dict)


@dataclass(slots=True)
class _Node:
    bd_seq: int | None
    seq: int = 0
    count: int = 0
    """Messages of this session so far: the seq of our readings (seq wraps at 256)."""
    own: _Device = field(default_factory=_Device)
    devices: dict[str, _Device] = field(default_factory=dict)


@dataclass(slots=True)
class SparkplugStats:
    births: int = 0
    deaths: int = 0
    stale_deaths: int = 0
    seq_gaps: int = 0
    rebirths_requested: int = 0
    before_birth: int = 0
    unknown_aliases: int = 0


@dataclass(slots=True)
class Outcome:
    messages: list[Message]
    error: DecodeError | None = None


class SparkplugDecoder:
    """The state of every node and device seen, and their messages turned into ours."""

    def __init__(
        self,
        config: SparkplugConfig,
        *,
        root: str = DEFAULT_ROOT,
        publish: Callable[[str, bytes], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.root = root
        self.publish = publish
        self.clock = clock
        self.nodes: dict[tuple[str, str], _Node] = {}
        self.stats = SparkplugStats()
        self._asked: dict[tuple[str, str], float] = {}
        self._map: dict[tuple[str, str, str | None], SparkplugDevice] = {
            (d.group, d.node, d.device): d for d in config.devices
        }

    # ---- mapping ---------------------------------------------------------------------------
    def where(self, t: Topic) -> tuple[MachinePath, SparkplugDevice]:
        cfg = self._map.get((t.group, t.node, t.device))
        machine = cfg.machine if cfg is not None else None
        if cfg is None and t.device is not None:
            cfg = self._map.get((t.group, t.node, "*"))
            machine = t.device
        if cfg is None or machine is None:
            what = f"{t.group}/{t.node}" + (f"/{t.device}" if t.device else " (node metrics)")
            raise DecodeError(f"Sparkplug device {what} is not mapped: add it to "
                              "[[ingest.sparkplug.devices]] (group, node, device -> site, area, "
                              "line, machine)")  # fmt: skip
        if not _NAME.fullmatch(machine):
            raise DecodeError(f"Sparkplug device_id {machine[:64]!r} is not a valid machine "
                              "name: map it to one in [[ingest.sparkplug.devices]]")  # fmt: skip
        return MachinePath(cfg.site, cfg.area, cfg.line, machine), cfg

    # ---- the messages ----------------------------------------------------------------------
    def decode(self, topic: str, payload: bytes, now_ms: int | None = None) -> Outcome:
        try:
            t = parse_topic(topic)
            if t.type in ("NCMD", "DCMD"):
                return Outcome([])  # commands to nodes (ours among them): not data
            p = decode_payload(payload)
            return Outcome(self._message(t, p, now_ms or int(time.time() * 1000)))
        except SparkplugError as exc:
            return Outcome([], DecodeError(f"Sparkplug: {exc}"))
        except DecodeError as exc:
            return Outcome([], exc)

    def _message(self, t: Topic, p: Any, now_ms: int) -> list[Message]:
        key = t.node_key
        if t.type == "NBIRTH":
            return self._nbirth(t, p)
        if t.type == "NDEATH":
            return self._ndeath(t, p)
        node = self.nodes.get(key)
        if node is None:
            self.stats.before_birth += 1
            self.rebirth(t)
            raise DecodeError(f"{t.type} from {t.group}/{t.node} before its node's birth "
                              "(NBIRTH); asked the node for a rebirth")  # fmt: skip
        self._check_seq(t, p, node)
        if t.type == "DBIRTH":
            assert t.device is not None
            device = node.devices[t.device] = self._birth(t, p, "DBIRTH")
            self.stats.births += 1
            return self._readings(t, node, device, p, online=True)
        if t.type == "DDEATH":
            assert t.device is not None
            node.devices.pop(t.device, None)
            self.stats.deaths += 1
            return self._status(t, node, p, online=False)
        if t.type == "NDATA":
            if (t.group, t.node, None) not in self._map:
                return []  # a node's own metrics (node control, properties): not a machine
            return self._data(t, node, node.own, p)
        assert t.device is not None
        device_state = node.devices.get(t.device)
        if device_state is None:
            self.stats.before_birth += 1
            self.rebirth(t)
            raise DecodeError(f"DDATA from {t.group}/{t.node}/{t.device} before its birth "
                              "(DBIRTH); asked the node for a rebirth")  # fmt: skip
        return self._data(t, node, device_state, p)

    def _nbirth(self, t: Topic, p: Any) -> list[Message]:
        bd = next((m.value for m in p.metrics if m.name == BDSEQ), None)
        if not isinstance(bd, int) or isinstance(bd, bool):
            raise DecodeError(f"NBIRTH from {t.group}/{t.node} without its bdSeq metric")
        if p.seq not in (0, None):
            raise DecodeError(f"NBIRTH from {t.group}/{t.node} with seq {p.seq} (must be 0)")
        node = _Node(bd_seq=bd, own=self._birth(t, p, "NBIRTH"))
        self.nodes[t.node_key] = node
        self.stats.births += 1
        if (t.group, t.node, None) in self._map:
            return self._readings(t, node, node.own, p, online=True)
        return []

    def _ndeath(self, t: Topic, p: Any) -> list[Message]:
        node = self.nodes.get(t.node_key)
        bd = next((m.value for m in p.metrics if m.name == BDSEQ), None)
        if node is None or bd != node.bd_seq:
            self.stats.stale_deaths += 1
            log.info("NDEATH of %s/%s with bdSeq %s: not the current session's, ignored",
                     t.group, t.node, bd)  # fmt: skip
            return []
        del self.nodes[t.node_key]
        self.stats.deaths += 1
        out: list[Message] = []
        for device in node.devices:
            out += self._status(Topic(t.group, "NDEATH", t.node, device), node, p, online=False)
        if (t.group, t.node, None) in self._map:
            out += self._status(t, node, p, online=False)
        return out

    def _check_seq(self, t: Topic, p: Any, node: _Node) -> None:
        node.count += 1
        expected = (node.seq + 1) % 256
        if p.seq is None or p.seq != expected:
            self.stats.seq_gaps += 1
            log.warning("%s from %s/%s has seq %s, expected %s: asking for a rebirth",
                        t.type, t.group, t.node, p.seq, expected)  # fmt: skip
            self.rebirth(t)
        node.seq = p.seq if p.seq is not None else expected

    def _birth(self, t: Topic, p: Any, kind: str) -> _Device:
        device = _Device()
        for m in p.metrics:
            if m.name is None:
                raise DecodeError(f"{kind} of {t}: a metric without a name (births name "
                                  "every metric)")  # fmt: skip
            if m.datatype is None:
                raise DecodeError(f"{kind} of {t}: metric {m.name!r} without a datatype")
            if m.name in device.types:
                raise DecodeError(f"{kind} of {t}: metric {m.name!r} twice")
            if m.alias is not None:
                other = device.aliases.setdefault(m.alias, m.name)
                if other != m.name:
                    raise DecodeError(f"{kind} of {t}: alias {m.alias} names both {other!r} "
                                      f"and {m.name!r}")  # fmt: skip
            device.types[m.name] = m.datatype
            device.values[m.name] = m.value
        return device

    def _data(self, t: Topic, node: _Node, device: _Device, p: Any) -> list[Message]:
        changed: list[tuple[str, Value, int | None]] = []
        for m in p.metrics:
            name = m.name
            if name is None and m.alias is not None:
                name = device.aliases.get(m.alias)
                if name is None:
                    self.stats.unknown_aliases += 1
                    self.rebirth(t)
                    raise DecodeError(f"{t.type} of {t}: alias {m.alias} is not in the "
                                      "birth; asked the node for a rebirth")  # fmt: skip
            if name is None:
                raise DecodeError(f"{t.type} of {t}: a metric with neither name nor alias")
            born = device.types.get(name)
            if born is None:
                self.rebirth(t)
                raise DecodeError(f"{t.type} of {t}: metric {name!r} is not in the birth; "
                                  "asked the node for a rebirth")  # fmt: skip
            if m.datatype is not None and m.datatype != born:
                raise DecodeError(f"{t.type} of {t}: metric {name!r} sent with datatype "
                                  f"{m.datatype}, born with {born}")  # fmt: skip
            try:
                value = typed(m.value, born, name)
            except SparkplugError as exc:
                raise DecodeError(f"{t.type} of {t}: {exc}") from None
            changed.append((name, value, m.timestamp))
        for name, value, _ in changed:
            device.values[name] = value
        stamps = [ts for _, _, ts in changed if ts is not None]
        return self._readings(t, node, device, p, stamp=max(stamps) if stamps else None)

    # ---- our readings ----------------------------------------------------------------------
    def _readings(self, t: Topic, node: _Node, device: _Device, p: Any, *,
                  online: bool = False, stamp: int | None = None) -> list[Message]:  # fmt: skip
        path, cfg = self.where(t)
        ts = stamp if stamp is not None else p.timestamp
        if ts is None:
            raise DecodeError(f"{t.type} of {t}: no timestamp on the payload or its metrics")
        names = {norm(n): n for n in device.values}

        def find(f: str) -> str | None:
            own = cfg.metrics.get(f)
            if own is not None:
                return own if own in device.values else None
            return next((names[c] for c in DEFAULTS[f] if c in names), None)

        def value(f: str) -> Value:
            name = find(f)
            return None if name is None else device.values.get(name)

        out: list[Message] = []
        try:
            state_metric = find("state")
            if state_metric is not None:
                out.append(self._telemetry(t, path, cfg, device, ts, node.count, value,
                                           state_metric))  # fmt: skip
            if find("energy_kwh") is not None and find("power_kw") is not None:
                reading = EnergyReading(
                    ts=ts, seq=node.count, energy_kwh=_num(value("energy_kwh")),
                    power_kw=_num(value("power_kw")), power_factor=_opt(value("power_factor")),
                    voltage_v=_opt(value("voltage_v")),
                )  # fmt: skip
                out.append(Message(OurTopic(path, Channel.ENERGY, self.root), (reading,)))
        except (ValidationError, TypeError, ValueError) as exc:
            raise DecodeError(f"{t.type} of {t} as {path}: {_why(exc)}") from None
        if not out:
            seen = ", ".join(sorted(device.values))[:300]
            raise DecodeError(f"{t.type} of {t}: neither a machine's state and counters nor a "
                              f"meter's energy and power among its metrics ({seen}); map "
                              "them: metrics = {state = '...', ...} in "
                              "[[ingest.sparkplug.devices]]")  # fmt: skip
        if online:
            out += self._status(t, node, p, online=True)
        return out

    def _telemetry(
        self,
        t: Topic,
        path: MachinePath,
        cfg: SparkplugDevice,
        device: _Device,
        ts: int,
        seq: int,
        value: Callable[[str], Value],
        metric: str,
    ) -> Message:
        raw = value("state")
        if isinstance(raw, str) and not cfg.state_map:
            try:
                state = MachineState(_SEP.sub("_", raw.strip()).upper())
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
        sensors: dict[str, float] = {}
        for ours, theirs in cfg.sensors.items():
            v = device.values.get(theirs)
            if v is not None:
                sensors[ours] = _num(v)
        if not cfg.sensors:
            for name, v in device.values.items():
                n = norm(name)
                if n.startswith("sensors ") and v is not None and not isinstance(v, str | bytes):
                    sensors[n[8:].replace(" ", "_")] = _num(v)
        reason, product = value("reason"), value("product")
        reading = TelemetryReading(
            ts=ts, seq=seq, state=state, total_count=_count(value("total_count"), "total_count"),
            good_count=_count(value("good_count"), "good_count"),
            reason=str(reason) if reason not in (None, "") else None,
            ideal_cycle_s=_opt(value("ideal_cycle_s")),
            product=str(product) if product not in (None, "") else None,
            sensors=sensors or None,
        )  # fmt: skip
        return Message(OurTopic(path, Channel.TELEMETRY, self.root), (reading,))

    def _status(self, t: Topic, node: _Node, p: Any, *, online: bool) -> list[Message]:
        try:
            path, _ = self.where(t)
        except DecodeError:
            return []  # a device we do not map: its status is nobody's
        # An NDEATH is the broker's will, its timestamp that of the node's connection: the
        # node went away when the will arrived.
        received = int(time.time() * 1000)
        ts = received if t.type == "NDEATH" or p.timestamp is None else p.timestamp
        agent = t.node if _NAME.fullmatch(t.node) else None
        reading = StatusReading(ts=ts, seq=node.count, online=online, agent=agent)
        return [Message(OurTopic(path, Channel.STATUS, self.root), (reading,))]

    # ---- asking for a rebirth --------------------------------------------------------------
    def rebirth(self, t: Topic) -> None:
        """NCMD ``Node Control/Rebirth`` to the node, at most once per interval."""
        now = self.clock()
        last = self._asked.get(t.node_key)
        recent = last is not None and now - last < self.config.rebirth_min_interval_s
        if self.publish is None or recent:
            return
        self._asked[t.node_key] = now
        self.stats.rebirths_requested += 1
        payload = encode_payload(int(time.time() * 1000), None,
                                 [Metric(REBIRTH, None, BOOLEAN, True)])  # fmt: skip
        self.publish(f"{NAMESPACE}/{t.group}/NCMD/{t.node}", payload)


def _num(v: Value) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise TypeError(f"expected a number, got {v!r}")
    return float(v)


def _opt(v: Value) -> float | None:
    return None if v is None else _num(v)


def _count(v: Value, what: str) -> int:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{what}: expected a whole number, got {v!r}")
    return v


def _why(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'reading'}: {e['msg']}"
                         for e in exc.errors())  # fmt: skip
    return str(exc)
