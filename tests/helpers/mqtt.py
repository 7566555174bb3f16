"""MQTT clients against a secured Mosquitto: connection results, and a line1 gateway that
publishes for its own line and another."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from ingest.service import IngestService
from tests.helpers.servers import until


def connect_result(c: mqtt.Client, port: int) -> object:
    """The CONNACK reason, or the exception the connection ended with."""
    result: dict[str, object] = {}
    c.on_connect = lambda _c, _u, _f, reason, _p: result.setdefault("rc", reason)
    try:
        c.connect("localhost", port, keepalive=10)
    except (OSError, ssl.SSLError) as exc:
        return exc
    deadline = time.monotonic() + 10
    while "rc" not in result and time.monotonic() < deadline:
        if c.loop(0.1) != mqtt.MQTT_ERR_SUCCESS and "rc" not in result:
            return "connection lost"
    c.disconnect()
    return result.get("rc", "no answer")


def reading(seq: int, **over: Any) -> dict[str, Any]:
    r = {"ts": 1_767_600_000_000 + seq * 1000, "seq": seq, "state": "RUNNING",
         "total_count": seq, "good_count": seq}  # fmt: skip
    r.update(over)
    return r


def publish(make: Callable[[], mqtt.Client], port: int, sends: list[tuple[str, bytes]]) -> None:
    """Publish with QoS 1 once the CONNACK is in (a TLS session takes a moment).

    Mosquitto 2.0.11 with OpenSSL 3 now and then drops a TLS connection just after its
    CONNACK ("Bad socket read/write" in its log); the publish then fails at once, before
    anything is sent, and is made again on a new connection (at most three). What was
    acknowledged is not sent again, so nothing arrives twice."""
    done = 0
    for attempt in range(3):
        c = make()
        connected = threading.Event()
        c.on_connect = lambda _c, _u, _f, reason, _p, ev=connected: (
            ev.set() if not reason.is_failure else None
        )
        c.connect("localhost", port)
        c.loop_start()
        try:
            assert connected.wait(10), "no CONNACK"
            for topic, payload in sends[done:]:
                c.publish(topic, payload, qos=1).wait_for_publish(10)
                done += 1
            return
        except RuntimeError:
            if attempt == 2:
                raise
        finally:
            c.loop_stop()
            c.disconnect()


async def publish_for_both_lines(make: Callable[[], mqtt.Client], port: int,
                                 service: IngestService) -> None:  # fmt: skip
    """The line1 gateway publishes for line2 (not its line), then for line1; wait until the
    allowed message is stored, and a moment for the denied one, were it to come."""
    await asyncio.to_thread(publish, make, port, [
        (f"{LINE2}/cnc01/telemetry", json.dumps([reading(1)]).encode()),
        (f"{LINE1}/press01/telemetry", json.dumps([reading(2)]).encode()),
    ])  # fmt: skip
    await until(lambda: service.stats.written_readings >= 1, "the allowed message stored", 15)
    await asyncio.sleep(1.0)


LINE1 = "factory/v1/plant1/assembly/line1"


LINE2 = "factory/v1/plant1/assembly/line2"
