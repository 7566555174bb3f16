"""An MQTT subscriber driven by the asyncio loop, with manual acknowledgements.

paho-mqtt runs on the event loop's own selector (no network thread), so that
``ack`` is called from the same thread that reads and writes the socket. A
message is acknowledged only when the service says it is stored. When too many
messages wait, the subscriber stops reading its socket: the broker keeps the
rest (backpressure instead of an unbounded queue).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.errors import BrokerAuthError, BrokerError
from telemetry.urls import MqttEndpoint

if TYPE_CHECKING:
    from paho.mqtt.client import SocketLike

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as received; ``generation`` names the connection it came on."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int


def _connack(rc: int) -> str:
    names = {134: "bad user name or password", 135: "not authorised"}
    return names.get(rc) or str(mqtt.connack_string(rc))


class Subscriber:
    def __init__(
        self,
        *,
        endpoint: MqttEndpoint,
        client_id: str,
        topic_filter: str | tuple[str, ...],
        on_delivery: Callable[[Delivery], None],
        keepalive_s: int = 30,
        ca_file: Path | None = None,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        mqtt_version: str = "3.1.1",
        session_expiry_s: int = 7 * 86_400,
        receive_maximum: int = 2000,
    ) -> None:
        self._endpoint = endpoint
        self.v5 = mqtt_version == "5"
        self._session_expiry_s = session_expiry_s
        self._receive_maximum = receive_maximum
        self.unacked = 0
        """QoS 1 deliveries not yet acknowledged; with MQTT 5 the broker keeps it at most at
        receive_maximum (flow control)."""
        self.max_unacked = 0
        self.connack_reason: str | None = None
        """The broker's reason for refusing the last connection (MQTT 5 reason code)."""
        self.last_reason: str | None = None
        """The broker's reason for the last disconnection (MQTT 5), e.g. session taken over."""
        self._filters = (topic_filter,) if isinstance(topic_filter, str) else topic_filter
        self._on_delivery = on_delivery
        self._keepalive = keepalive_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sock: SocketLike | None = None
        self._paused = False
        self._misc: asyncio.Task[None] | None = None
        self._connected: asyncio.Future[int] | None = None
        self._subscribed: asyncio.Future[None] | None = None
        self.disconnected: asyncio.Event = asyncio.Event()
        self.reading: asyncio.Event = asyncio.Event()
        """Set while the socket is read; cleared by :meth:`pause`."""
        self.reading.set()
        self.generation = 0
        if self.v5:
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                            protocol=mqtt.MQTTv5, manual_ack=True)  # fmt: skip
        else:
            c = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=client_id,
                clean_session=False,
                manual_ack=True,
            )
        if endpoint.username:
            c.username_pw_set(
                endpoint.username,
                endpoint.password.get_secret_value() if endpoint.password else None,
            )
        if endpoint.tls:
            # The plant CA when given (a broker certificate from make-certs.sh), else the
            # system's CAs; the broker's name is always checked. A client certificate for
            # brokers that require one (mosquitto-mtls.conf).
            c.tls_set(
                ca_certs=str(ca_file) if ca_file else None,
                certfile=str(cert_file) if cert_file else None,
                keyfile=str(key_file) if key_file else None,
            )
        c.on_socket_open = self._on_socket_open
        c.on_socket_close = self._on_socket_close
        c.on_socket_register_write = self._on_register_write
        c.on_socket_unregister_write = self._on_unregister_write
        c.on_connect = self._on_connect
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message
        c.on_disconnect = self._on_disconnect
        self._client = c

    # -- socket plumbing -------------------------------------------------------------
    def _on_socket_open(self, client: mqtt.Client, userdata: object, sock: SocketLike) -> None:
        assert self._loop is not None
        self._sock = sock
        if not self._paused:
            self._loop.add_reader(sock, client.loop_read)
        self._misc = self._loop.create_task(self._misc_loop(), name="mqtt keepalive")

    def _on_socket_close(self, client: mqtt.Client, userdata: object, sock: SocketLike) -> None:
        assert self._loop is not None
        self._loop.remove_reader(sock)
        self._loop.remove_writer(sock)
        self._sock = None
        if self._misc is not None:
            self._misc.cancel()

    def _on_register_write(self, client: mqtt.Client, userdata: object, sock: SocketLike) -> None:
        assert self._loop is not None
        self._loop.add_writer(sock, client.loop_write)

    def _on_unregister_write(self, client: mqtt.Client, userdata: object, sock: SocketLike) -> None:
        assert self._loop is not None
        self._loop.remove_writer(sock)

    async def _misc_loop(self) -> None:
        # paho's keepalive and retry timers want a call about once a second.
        while self._client.loop_misc() == mqtt.MQTT_ERR_SUCCESS:  # noqa: ASYNC110
            await asyncio.sleep(1)

    # -- protocol callbacks ----------------------------------------------------------
    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        code = getattr(reason, "value", 0)
        self.connack_reason = f"{reason} ({code})" if code else None
        if self._connected is not None and not self._connected.done():
            self._connected.set_result(code)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: object, mid: int, reasons: object, props: object
    ) -> None:
        if self._subscribed is not None and not self._subscribed.done():
            self._subscribed.set_result(None)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if msg.qos > 0:
            self.unacked += 1
            self.max_unacked = max(self.max_unacked, self.unacked)
        self._on_delivery(
            Delivery(msg.topic, bytes(msg.payload), msg.mid, msg.qos, self.generation)
        )

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        code = getattr(reason, "value", 0)
        if code:
            self.last_reason = f"{reason} ({code})"  # e.g. Session taken over (142)
        self.unacked = 0  # what was not acknowledged comes again in the next session
        if self._connected is not None and not self._connected.done():
            self._connected.set_exception(BrokerError(f"disconnected during connect: {reason}"))
        self.disconnected.set()

    # -- API -------------------------------------------------------------------------
    async def connect(self, timeout_s: float = 10.0) -> None:
        """Connect, subscribe with QoS 1, and return once the subscription is granted."""
        self._loop = asyncio.get_running_loop()
        self.disconnected.clear()
        self.generation += 1
        self._connected = self._loop.create_future()
        self._subscribed = self._loop.create_future()
        try:
            # A blocking TCP connect (paho's own timeout bounds it); the socket callbacks
            # must run on this loop's thread, so it is not sent to a worker thread.
            if self.v5:
                # The session outlives the connection for session_expiry_s (the MQTT 5
                # counterpart of clean_session=False); receive_maximum bounds the QoS 1
                # messages the broker sends before we acknowledge (flow control).
                props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                props.SessionExpiryInterval = self._session_expiry_s
                props.ReceiveMaximum = self._receive_maximum
                self._client.connect(self._endpoint.host, self._endpoint.port, self._keepalive,
                                     clean_start=False, properties=props)  # fmt: skip
            else:
                self._client.connect(self._endpoint.host, self._endpoint.port, self._keepalive)
        except (OSError, ValueError) as exc:
            raise BrokerError(
                f"cannot connect to the MQTT broker at {self._endpoint}: {exc}. "
                "Check FACTORY_MQTT_URL and that the broker is running."
            ) from exc
        try:
            rc = await asyncio.wait_for(self._connected, timeout_s)
            # Bad user name or password; not authorised (MQTT 3.1.1 codes, and the MQTT 5
            # codes paho reports them as).
            if rc in (4, 5, 134, 135):
                self._client.disconnect()
                raise BrokerAuthError(
                    f"the broker at {self._endpoint} refused our credentials "
                    f"({self.connack_reason if self.v5 else _connack(rc)}): check the user and "
                    "password in "
                    "FACTORY_MQTT_URL against the broker's password file and ACL"
                )
            if rc != 0:
                why = self.connack_reason if self.v5 else _connack(rc)
                raise BrokerError(f"the broker at {self._endpoint} refused the connection: {why}")
            self._client.subscribe([(f, 1) for f in self._filters])
            await asyncio.wait_for(self._subscribed, timeout_s)
        except TimeoutError as exc:
            self._client.disconnect()
            raise BrokerError(f"no answer from the broker at {self._endpoint}") from exc

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> bool:
        """Send a message (a Sparkplug rebirth request); False when not connected."""
        if self._sock is None:
            return False
        return self._client.publish(topic, payload, qos=qos).rc == mqtt.MQTT_ERR_SUCCESS

    def ack(self, delivery: Delivery) -> bool:
        """Acknowledge a message; a message from an earlier connection is redelivered instead."""
        if delivery.generation != self.generation or delivery.qos == 0:
            return False
        self.unacked = max(0, self.unacked - 1)
        return self._client.ack(delivery.mid, delivery.qos) == mqtt.MQTT_ERR_SUCCESS

    def pause(self) -> None:
        """Stop reading the socket; the broker holds what we have not read (backpressure)."""
        if not self._paused:
            if self._sock is not None and self._loop is not None:
                self._loop.remove_reader(self._sock)
            self._paused = True
            self.reading.clear()

    def resume(self) -> None:
        if self._paused:
            if self._sock is not None and self._loop is not None:
                self._loop.add_reader(self._sock, self._client.loop_read)
            self._paused = False
            self.reading.set()

    @property
    def paused(self) -> bool:
        return self._paused

    async def disconnect(self) -> None:
        if self._sock is not None:
            self._client.disconnect()
            self._client.loop_write()
            try:
                await asyncio.wait_for(self.disconnected.wait(), 5)
            except TimeoutError:
                log.warning("broker did not close the connection in time")
