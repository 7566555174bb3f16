"""A load publisher for tests: a simulated fleet's readings, QoS 1, at a given pace."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from simulators import Fleet, FleetConfig
from simulators.faults import MALFORMED
from simulators.load import publish
from telemetry.models import Channel
from telemetry.topic import Topic
from telemetry.urls import parse_mqtt_url


@dataclass
class Load:
    """Publishes every reading of a fleet; remembers what a correct store must hold."""

    port: int
    root: str
    fleet: Fleet
    readings_per_s: float = 5000.0
    batch: int = 100
    bad_every: int = 0
    """Every n-th message is replaced by a malformed one (0: none)."""
    expected: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(machine, channel) -> readings sent in good messages."""
    sent_messages: int = 0
    bad_messages: int = 0

    def __post_init__(self) -> None:
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> Load:
        self._thread.start()
        return self

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            raise TimeoutError("the load did not finish")
        if self.error:
            raise self.error

    def _run(self) -> None:
        try:
            self._publish()
        except BaseException as exc:  # reported by join()
            self.error = exc
        finally:
            self.done.set()

    def _messages(self) -> Iterator[tuple[str, bytes]]:
        rng = random.Random(7)
        for _, groups in self.fleet.chunks(600_000):
            for path, channel, readings in groups:
                topic = str(Topic(path, channel, self.root))
                for i in range(0, len(readings), self.batch):
                    chunk = readings[i : i + self.batch]
                    self.sent_messages += 1
                    if self.bad_every and self.sent_messages % self.bad_every == 0:
                        self.bad_messages += 1
                        yield topic, rng.choice(MALFORMED) + b" #%d" % self.bad_messages
                    else:
                        self.expected[(path.machine, channel.value)] += len(chunk)
                        yield topic, json.dumps(chunk, separators=(",", ":")).encode()

    def _publish(self) -> None:
        endpoint = parse_mqtt_url(f"mqtt://127.0.0.1:{self.port}")
        publish(self._messages(), endpoint, rate=self.readings_per_s, qos=1)

    @property
    def expected_readings(self) -> int:
        return sum(self.expected.values())


def stored_counts(port: int, db: str) -> Counter[tuple[str, str]]:
    """(machine, channel) -> readings stored in InfluxDB (distinct timestamps)."""
    from tests.helpers.servers import influx_query

    out: Counter[tuple[str, str]] = Counter()
    for measurement in (Channel.TELEMETRY.value, Channel.ENERGY.value):
        series = influx_query(
            port, db, f'SELECT count("seq") FROM "{measurement}" GROUP BY machine'
        )
        for s in series:
            machine = s["tags"]["machine"]  # type: ignore[index]
            out[(machine, measurement)] = int(s["values"][0][1])  # type: ignore[index]
    return out


def default_load_fleet(machines: int = 10, hours: float = 2.0, seed: int = 21) -> Fleet:
    return Fleet(FleetConfig(machines=machines, lines=2, hours=hours, seed=seed))
