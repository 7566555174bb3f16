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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ingest.sparkplug_config import SparkplugConfig, SparkplugDevice
from ingest.sparkplug_map import (
    DEFAULTS,
    ENERGY_FIELDS,
    NAME,
    PATH_METRIC,
    TELEMETRY_FIELDS,
    norm,
    num,
    opt,
    telemetry_message,
    why,
)
from telemetry.codec import DecodeError, Message
from telemetry.models import (
    Channel,
    EnergyReading,
    StatusReading,
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


@dataclass(slots=True)
class _Device:
    aliases: dict[int, str] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)
    values: dict[str, Value] = field(default_factory=dict)
    # What follows from the birth's metrics alone (a birth makes a new _Device): cached.
    fields: dict[str, str | None] = field(default_factory=dict)
    """Our field -> the metric that feeds it (None: none)."""
    sensors: dict[str, str] | None = None
    """Our sensor name -> its metric."""
    place: tuple[Value, tuple[MachinePath, SparkplugDevice]] | None = None
    """Where it is, and the Factory/Path value that said so."""


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
    def where(self, t: Topic, device: _Device | None = None) -> tuple[MachinePath, SparkplugDevice]:
        if device is None:
            return self._where(t, None)
        own = device.values.get(PATH_METRIC)
        if device.place is None or device.place[0] != own:
            device.place = (own, self._where(t, device))
        return device.place[1]

    def _where(self, t: Topic, device: _Device | None) -> tuple[MachinePath, SparkplugDevice]:
        cfg = self._map.get((t.group, t.node, t.device))
        machine = cfg.machine if cfg is not None else None
        if cfg is None and t.device is not None:
            cfg = self._map.get((t.group, t.node, "*"))
            machine = t.device
        own = device.values.get(PATH_METRIC) if device is not None else None
        if cfg is None and isinstance(own, str):
            # Our own edge agent's devices say where they are (docs/sources.md).
            try:
                path = MachinePath.parse(own)
            except (ValueError, TypeError):
                raise DecodeError(f"{t}: {PATH_METRIC} {own[:100]!r} is not "
                                  "site/area/line/machine") from None  # fmt: skip
            return path, SparkplugDevice(group=t.group, node=t.node, device=t.device,
                                         site=path.site, area=path.area, line=path.line,
                                         machine=path.machine)  # fmt: skip
        if cfg is None or machine is None:
            what = f"{t.group}/{t.node}" + (f"/{t.device}" if t.device else " (node metrics)")
            raise DecodeError(f"Sparkplug device {what} is not mapped: add it to "
                              "[[ingest.sparkplug.devices]] (group, node, device -> site, area, "
                              "line, machine)")  # fmt: skip
        if not NAME.fullmatch(machine):
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
            gone = node.devices.pop(t.device, None)
            self.stats.deaths += 1
            return self._status(t, node, p, online=False, device=gone)
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
        for name, device in node.devices.items():
            out += self._status(Topic(t.group, "NDEATH", t.node, name), node, p, online=False,
                                device=device)  # fmt: skip
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
        return self._readings(t, node, device, p, stamp=max(stamps) if stamps else None,
                              changed={name for name, _, _ in changed})  # fmt: skip

    # ---- our readings ----------------------------------------------------------------------
    def _readings(self, t: Topic, node: _Node, device: _Device, p: Any, *,
                  online: bool = False, stamp: int | None = None,
                  changed: set[str] | None = None) -> list[Message]:  # fmt: skip
        """The device's readings now: a birth (``changed`` None) or data without metrics
        gives every channel the device has; data, the channels whose metrics changed."""
        path, cfg = self.where(t, device)
        ts = stamp if stamp is not None else p.timestamp
        if ts is None:
            raise DecodeError(f"{t.type} of {t}: no timestamp on the payload or its metrics")

        def find(f: str) -> str | None:
            if f not in device.fields:
                own = cfg.metrics.get(f)
                if own is not None:
                    device.fields[f] = own if own in device.values else None
                else:
                    names = {norm(n): n for n in device.values}
                    device.fields[f] = next((names[c] for c in DEFAULTS[f] if c in names), None)
            return device.fields[f]

        if device.sensors is None:
            device.sensors = dict(cfg.sensors) or {
                norm(n)[8:].replace(" ", "_"): n for n in device.values
                if norm(n).startswith("sensors ")}  # fmt: skip
        sensors = device.sensors

        def value(f: str) -> Value:
            name = find(f)
            return None if name is None else device.values.get(name)

        def moved(fields: tuple[str, ...], with_sensors: bool = False) -> bool:
            if not changed:
                return True
            names = {find(f) for f in fields} - {None}
            return bool(changed & names) or (with_sensors and bool(changed & mine))

        mine = set(sensors.values())

        out: list[Message] = []
        try:
            state_metric = find("state")
            if state_metric is not None and moved(TELEMETRY_FIELDS, with_sensors=True):
                out.append(telemetry_message(self.root, path, cfg, device.values, ts,
                                             node.count, value, state_metric, sensors))  # fmt: skip
            if (find("energy_kwh") is not None and find("power_kw") is not None
                    and moved(ENERGY_FIELDS)):  # fmt: skip
                reading = EnergyReading(
                    ts=ts, seq=node.count, energy_kwh=num(value("energy_kwh")),
                    power_kw=num(value("power_kw")), power_factor=opt(value("power_factor")),
                    voltage_v=opt(value("voltage_v")),
                )  # fmt: skip
                out.append(Message(OurTopic(path, Channel.ENERGY, self.root), (reading,)))
        except (ValidationError, TypeError, ValueError) as exc:
            raise DecodeError(f"{t.type} of {t} as {path}: {why(exc)}") from None
        if not out and changed and (find("state") or find("energy_kwh")):
            return []  # only metrics we do not store changed (a property, say)
        if not out:
            seen = ", ".join(sorted(device.values))[:300]
            raise DecodeError(f"{t.type} of {t}: neither a machine's state and counters nor a "
                              f"meter's energy and power among its metrics ({seen}); map "
                              "them: metrics = {state = '...', ...} in "
                              "[[ingest.sparkplug.devices]]")  # fmt: skip
        if online:
            out += self._status(t, node, p, online=True, device=device)
        return out

    def _status(self, t: Topic, node: _Node, p: Any, *, online: bool,
                device: _Device | None = None) -> list[Message]:  # fmt: skip
        try:
            path, _ = self.where(t, device)
        except DecodeError:
            return []  # a device we do not map: its status is nobody's
        # An NDEATH is the broker's will, its timestamp that of the node's connection: the
        # node went away when the will arrived.
        received = int(time.time() * 1000)
        ts = received if t.type == "NDEATH" or p.timestamp is None else p.timestamp
        agent = t.node if NAME.fullmatch(t.node) else None
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
