"""An open-loop publisher: sends a stream of messages at a fixed reading rate.

Open loop means the schedule does not wait for the receiver: message k is due at
``start + readings_before_k / rate`` whether or not earlier ones were
acknowledged, so a slow receiver shows up as lag, not as a slower load.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from telemetry.urls import MqttEndpoint


@dataclass(slots=True)
class LoadSummary:
    messages: int = 0
    readings: int = 0
    acknowledged_messages: int = 0
    seconds: float = 0.0

    @property
    def achieved_readings_per_s(self) -> float:
        return self.readings / self.seconds if self.seconds > 0 else 0.0


def _count(payload: bytes) -> int:
    try:
        value = json.loads(payload)
    except ValueError:
        return 0
    return len(value) if isinstance(value, list) else 1


def publish(
    messages: Iterable[tuple[str, bytes]],
    endpoint: MqttEndpoint,
    *,
    rate: float | None,
    qos: int = 1,
    on_progress: Callable[[LoadSummary], None] | None = None,
) -> LoadSummary:
    """Publish every message; ``rate`` in readings per second, ``None`` for as fast as possible."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"factory-load-{uuid.uuid4().hex[:8]}"
    )
    if endpoint.username:
        client.username_pw_set(
            endpoint.username,
            endpoint.password.get_secret_value() if endpoint.password else None,
        )
    if endpoint.tls:
        client.tls_set()
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    summary = LoadSummary()
    acked = [0]
    client.on_publish = lambda *args: acked.__setitem__(0, acked[0] + 1)
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    started = time.monotonic()
    pending = []
    try:
        for topic, payload in messages:
            pending.append(client.publish(topic, payload, qos=qos))
            summary.messages += 1
            summary.readings += _count(payload)
            if rate:
                delay = started + summary.readings / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            if len(pending) >= 2000:
                for info in pending:
                    info.wait_for_publish(60)
                pending.clear()
                summary.acknowledged_messages = acked[0]
                summary.seconds = time.monotonic() - started
                if on_progress is not None:
                    on_progress(summary)
        for info in pending:
            info.wait_for_publish(60)
    finally:
        client.loop_stop()
        client.disconnect()
    summary.seconds = time.monotonic() - started
    summary.acknowledged_messages = acked[0] if qos else summary.messages
    return summary
