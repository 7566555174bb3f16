"""Fault injection on the simulated stream, every fault counted exactly.

Faults are opt-in and deterministic for a seed. They act on what a device
sends (its messages), never on the simulator's timeline, so the ground truth
stays the truth of what the machines did; the report says what was injected.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from telemetry.codec import encode, join_texts
from telemetry.models import Channel
from telemetry.topic import MachinePath, Topic

Message = tuple[str, bytes]
"""(topic, payload) as published."""

MALFORMED = (  # each still refused with a number after it
    b"{not json",
    b'{"ts": "yesterday", "seq": 1}',
    b"\xff\xfe\x00 not utf-8",
    b"[]",
    b'{"ts": 1767600000000, "seq": 1, "power_kw": NaN, "energy_kwh": 1}',
)


@dataclass(frozen=True, slots=True)
class Faults:
    malformed: float = 0.0
    """Fraction of messages replaced by a malformed payload (the readings are lost)."""
    duplicates: float = 0.0
    """Fraction of messages sent twice (as a redelivery would)."""
    out_of_order: float = 0.0
    """Fraction of messages held back and sent after the next message of the same topic."""
    clock_skew_s: float = 0.0
    """One device's clock is off by this many seconds (its readings' ``ts`` shift)."""
    counter_resets: int = 0
    """PLC restarts: a machine's counters start again from zero at a random reading."""
    gaps: int = 0
    """Devices that fall silent for ``gap_s`` (their readings are never sent)."""
    gap_s: float = 600.0
    bursts: int = 0
    """Devices that hold their readings for ``burst_s`` (a network outage at the gateway),
    then send the whole backlog at once, before their current readings: nothing is lost."""
    burst_s: float = 300.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("malformed", "duplicates", "out_of_order"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a fraction between 0 and 1")
        if self.counter_resets < 0 or self.gaps < 0 or self.gap_s <= 0:
            raise ValueError("counter_resets and gaps must be >= 0, gap_s > 0")
        if self.bursts < 0 or self.burst_s <= 0:
            raise ValueError("bursts must be >= 0, burst_s > 0")

    @property
    def any(self) -> bool:
        return any(
            (self.malformed, self.duplicates, self.out_of_order, self.clock_skew_s,
             self.counter_resets, self.gaps, self.bursts)
        )  # fmt: skip


@dataclass(slots=True)
class FaultReport:
    """What was injected, exactly."""

    messages: int = 0
    readings: int = 0
    malformed_messages: int = 0
    malformed_readings_lost: int = 0
    duplicate_messages: int = 0
    out_of_order_messages: int = 0
    skewed_device: str | None = None
    skewed_readings: int = 0
    counter_resets: list[dict[str, Any]] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    gap_readings_dropped: int = 0
    bursts: list[dict[str, Any]] = field(default_factory=list)
    """Each burst: device, the held span, and how many readings were held and sent late."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Injector:
    """Applies :class:`Faults` to groups of readings and to the messages built from them."""

    def __init__(
        self, faults: Faults, paths: list[MachinePath], start_ms: int, end_ms: int
    ) -> None:
        self.faults = faults
        self.report = FaultReport()
        rng = random.Random(faults.seed)
        self._rng = random.Random(faults.seed + 1)
        self._skewed = rng.choice(paths) if faults.clock_skew_s and paths else None
        if self._skewed is not None:
            self.report.skewed_device = str(self._skewed)
        span = max(end_ms - start_ms, 1)
        self._resets: dict[MachinePath, int] = {}
        for _ in range(faults.counter_resets):
            path = rng.choice(paths)
            at = start_ms + int(rng.random() * span)
            self._resets[path] = at
        self._reset_base: dict[MachinePath, tuple[int, int]] = {}
        self._gaps: list[tuple[MachinePath, int, int]] = []
        for _ in range(faults.gaps):
            path = rng.choice(paths)
            at = start_ms + int(rng.random() * max(span - faults.gap_s * 1000, 1))
            self._gaps.append((path, at, at + int(faults.gap_s * 1000)))
            self.report.gaps.append(
                {"device": str(path), "from_ms": at, "to_ms": at + int(faults.gap_s * 1000)}
            )
        self._bursts: list[tuple[MachinePath, int, int, dict[str, Any]]] = []
        for _ in range(faults.bursts):
            path = rng.choice(paths)
            at = start_ms + int(rng.random() * max(span - faults.burst_s * 1000, 1))
            entry = {"device": str(path), "from_ms": at, "to_ms": at + int(faults.burst_s * 1000),
                     "readings": 0}  # fmt: skip
            self.report.bursts.append(entry)
            self._bursts.append((path, at, at + int(faults.burst_s * 1000), entry))
        self._backlog: dict[tuple[MachinePath, Channel], list[dict[str, Any]]] = {}
        self._held: dict[str, Message] = {}

    def readings(
        self, path: MachinePath, channel: Channel, readings: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Gaps, bursts, clock skew and counter resets, on one group of a device's readings."""
        out = []
        key = (path, channel)
        for r in readings:
            if any(p == path and a <= r["ts"] < b for p, a, b in self._gaps):
                self.report.gap_readings_dropped += 1
                continue
            burst = next((e for p, a, b, e in self._bursts if p == path and a <= r["ts"] < b), None)
            r = dict(r)
            if channel == Channel.TELEMETRY and path in self._resets:
                at = self._resets[path]
                if r["ts"] >= at:
                    if path not in self._reset_base:
                        self._reset_base[path] = (r["total_count"], r["good_count"])
                        self.report.counter_resets.append(
                            {
                                "device": str(path),
                                "at_ms": r["ts"],
                                "total_before": r["total_count"],
                                "good_before": r["good_count"],
                            }
                        )
                    base_total, base_good = self._reset_base[path]
                    r["total_count"] -= base_total
                    r["good_count"] -= base_good
            if self._skewed == path:
                r["ts"] += int(self.faults.clock_skew_s * 1000)
                self.report.skewed_readings += 1
            if burst is not None:
                burst["readings"] += 1
                self._backlog.setdefault(key, []).append(r)
                continue
            if key in self._backlog:
                out.extend(self._backlog.pop(key))  # the backlog goes first, all at once
            out.append(r)
        return out

    def messages(
        self, topic: str, chunks: Iterable[list[dict[str, Any]]] | Iterable[list[str]]
    ) -> Iterator[Message]:
        """Encode chunks (of readings, or of readings already as JSON text) as messages and
        apply the message-level faults."""
        f = self.faults
        for chunk in chunks:
            if not chunk:
                continue
            payload = join_texts(chunk) if isinstance(chunk[0], str) else encode(chunk)
            self.report.messages += 1
            self.report.readings += len(chunk)
            if f.malformed and self._rng.random() < f.malformed:
                # Each one different, as a device's faulty messages would be (a dead letter
                # is keyed by its content: one sent twice is kept once).
                n = self.report.malformed_messages
                payload = self._rng.choice(MALFORMED) + b" #%d" % n
                self.report.malformed_messages += 1
                self.report.malformed_readings_lost += len(chunk)
            message = (topic, payload)
            if f.out_of_order and topic not in self._held and self._rng.random() < f.out_of_order:
                self._held[topic] = message
                self.report.out_of_order_messages += 1
                continue
            yield from self._emit(message)
            if topic in self._held:
                yield from self._emit(self._held.pop(topic))

    def _emit(self, message: Message) -> Iterator[Message]:
        yield message
        if self.faults.duplicates and self._rng.random() < self.faults.duplicates:
            self.report.duplicate_messages += 1
            yield message

    def backlog(self) -> list[tuple[MachinePath, Channel, list[dict[str, Any]]]]:
        """Readings still held by a burst at the end of the stream."""
        out = [(path, channel, rs) for (path, channel), rs in self._backlog.items()]
        self._backlog.clear()
        return out

    def flush(self) -> Iterator[Message]:
        """Messages still held back at the end of the stream."""
        for topic in sorted(self._held):
            yield from self._emit(self._held.pop(topic))


def fleet_messages(
    fleet: Any, faults: Faults, *, root: str, batch: int
) -> tuple[Iterator[Message], Injector]:
    """Every message of a fleet, in time order, with the faults applied."""
    injector = Injector(faults, list(fleet.paths), fleet.start_ms, fleet.end_ms)

    def generate() -> Iterator[Message]:
        # Without faults to apply on readings, they go out as JSON text straight away.
        source = fleet.chunks(600_000) if faults.any else fleet.encoded_chunks(600_000)
        for _, groups in source:
            for path, channel, readings in groups:
                topic = str(Topic(path, channel, root))
                if faults.any:
                    readings = injector.readings(path, channel, readings)
                chunks = (readings[i : i + batch] for i in range(0, len(readings), batch))
                yield from injector.messages(topic, chunks)
        for path, channel, readings in injector.backlog():
            topic = str(Topic(path, channel, root))
            yield from injector.messages(
                topic, (readings[i : i + batch] for i in range(0, len(readings), batch))
            )
        yield from injector.flush()

    return generate(), injector
