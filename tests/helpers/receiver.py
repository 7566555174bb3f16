"""A plain MQTT subscriber for tests: records what arrives, in arrival order."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


@dataclass
class Receiver:
    """A persistent-session QoS 1 subscriber to ``{root}/v1/#`` that reconnects by itself."""

    port: int
    root: str
    client_id: str = field(default_factory=lambda: f"rx-{uuid.uuid4().hex[:8]}")
    arrivals: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    messages: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._marker_topic = f"{self.root}/v1/_marker/{self.client_id}"
        self._markers: set[bytes] = set()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False)
        c.reconnect_delay_set(0.2, 1.0)
        c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(f"{self.root}/v1/#", qos=1)
        c.on_subscribe = lambda cl, u, mid, rc, p: self._subscribed.set()
        c.on_message = self._on_message
        self.client = c

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.endswith("/status"):
            return
        if msg.topic == self._marker_topic:
            self._markers.add(msg.payload)
            return
        payload = json.loads(msg.payload)
        with self._lock:
            self.messages += 1
            for r in payload if isinstance(payload, list) else [payload]:
                self.arrivals[msg.topic].append(int(r["seq"]))

    def start(self) -> Receiver:
        self.client.connect("127.0.0.1", self.port, keepalive=5)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("receiver could not subscribe")
        return self

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()

    def distinct(self) -> int:
        with self._lock:
            return sum(len(set(v)) for v in self.arrivals.values())

    def total(self) -> int:
        with self._lock:
            return sum(len(v) for v in self.arrivals.values())

    def wait_for(self, distinct: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.distinct() < distinct:
            if time.monotonic() > deadline:
                raise TimeoutError(f"received {self.distinct()} of {distinct} distinct readings")
            time.sleep(0.05)

    def drain(self, timeout_s: float) -> None:
        """Return once everything the broker accepted before this call has arrived.

        Publishes a marker to itself through the broker and waits for it: Mosquitto queues
        a subscriber's messages in the order it accepted them, so what was acknowledged to
        a publisher before the marker arrives before the marker.
        """
        token = uuid.uuid4().hex.encode()
        self.client.publish(self._marker_topic, token, qos=1)
        deadline = time.monotonic() + timeout_s
        while token not in self._markers:
            if time.monotonic() > deadline:
                raise TimeoutError("the marker did not come back through the broker")
            time.sleep(0.02)

    def first_arrivals_in_order(self) -> bool:
        """Per topic, the first arrival of each seq comes in increasing seq order."""
        with self._lock:
            for seqs in self.arrivals.values():
                seen: set[int] = set()
                last = -1
                for s in seqs:
                    if s in seen:
                        continue
                    seen.add(s)
                    if s < last:
                        return False
                    last = s
        return True
