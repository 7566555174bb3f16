"""MQTT connections of the edge agent: QoS 1, TLS, credentials kept secret, birth and will.

A message counts as delivered only after its PUBACK. Reconnection is a loop the
agent owns (``edge_agent.agent``); this module makes one connection at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_agent.config import EdgeConfig
from edge_agent.errors import BrokerAuthError, PublishError
from edge_agent.sparkplug_node import BdSeq, SparkplugNode
from telemetry import __version__
from telemetry.codec import encode_one
from telemetry.models import Channel
from telemetry.topic import DEFAULT_ROOT, MachinePath, Topic, TopicError
from telemetry.urls import MqttEndpoint

# aiomqtt warns on every publish beyond a handful in flight, which is our normal
# operation (the agent bounds in-flight messages itself); keep only its errors.
_AIOMQTT_LOG = logging.getLogger("edge_agent.aiomqtt")
_AIOMQTT_LOG.setLevel(logging.ERROR)

# CONNACK codes that no retry can fix: MQTT 3.1.1 (4, 5) and MQTT 5 (134, 135).
_AUTH_CODES = {4, 5, 134, 135}


def status_payload(online: bool, client_id: str) -> bytes:
    now = int(time.time() * 1000)
    return encode_one(
        {"ts": now, "seq": now, "online": online, "agent": client_id, "version": __version__}
    )


def gateway_path(client_id: str, machines: Sequence[MachinePath]) -> MachinePath | None:
    """The gateway's own place in the topic tree: beside the first machine it serves."""
    if not machines:
        return None
    first = machines[0]
    return MachinePath(first.site, first.area, first.line, client_id)


def _rc(exc: aiomqtt.MqttError) -> int | None:
    rc = getattr(exc, "rc", None)
    if rc is None:
        return None
    return int(getattr(rc, "value", rc))


class MqttPublisher:
    """Makes connections to one broker with one identity."""

    def __init__(
        self,
        *,
        endpoint: MqttEndpoint,
        config: EdgeConfig,
        root: str = DEFAULT_ROOT,
        machines: Sequence[MachinePath] = (),
    ) -> None:
        plain = endpoint.password and not endpoint.tls and not endpoint.is_loopback
        if plain and not config.allow_plaintext_password:
            raise PublishError(
                f"refusing to send a password in clear text to {endpoint.host}: use mqtts://, "
                "or set FACTORY_EDGE__ALLOW_PLAINTEXT_PASSWORD=true if the network is trusted"
            )
        self.endpoint = endpoint
        self._config = config
        self._root = root
        self.machines = list(machines)
        self._tls: ssl.SSLContext | None = None
        if endpoint.tls:
            try:
                ctx = ssl.create_default_context(
                    cafile=str(config.ca_file) if config.ca_file else None
                )
                if config.cert_file and config.key_file:
                    ctx.load_cert_chain(str(config.cert_file), str(config.key_file))
            except (OSError, ssl.SSLError) as exc:
                raise PublishError(f"cannot load the TLS files: {exc}") from exc
            if config.tls_insecure_skip_verify:
                ctx.check_hostname = False
            self._tls = ctx

    def topic(self, path: MachinePath, channel: Channel) -> str:
        return str(Topic(path, channel, self._root))

    def parse(self, topic: str) -> Topic:
        """The machine and channel of one of our topics (:meth:`topic` the other way)."""
        return Topic.parse(topic, self._root)

    def sparkplug_node(self) -> SparkplugNode | None:
        """A new Sparkplug session (its bdSeq one up, kept beside the buffer); None for JSON."""
        cfg = self._config
        if cfg.payload != "sparkplug":
            return None
        group = cfg.sparkplug_group or (self.machines[0].site if self.machines else "factory")
        bd_seq = BdSeq(Path(str(cfg.buffer_path) + ".bdseq")).next()
        return SparkplugNode(group, cfg.client_id, bd_seq)

    def _client(self, node: SparkplugNode | None = None) -> aiomqtt.Client:
        gateway = gateway_path(self._config.client_id, self.machines)
        will = None
        if node is not None:
            topic, payload = node.death()
            will = aiomqtt.Will(topic, payload, qos=1, retain=False)
        elif gateway is not None:
            will = aiomqtt.Will(
                self.topic(gateway, Channel.STATUS),
                status_payload(False, self._config.client_id),
                qos=1,
                retain=True,
            )
        password = self.endpoint.password
        session: dict[str, Any] = {"clean_session": False}
        if self._config.mqtt_version == "5":
            # The session outlives the connection for session_expiry_s: the MQTT 5
            # counterpart of clean_session=False.
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = self._config.session_expiry_s
            session = {"protocol": aiomqtt.ProtocolVersion.V5, "clean_start": False,
                       "properties": props}  # fmt: skip
        return aiomqtt.Client(
            hostname=self.endpoint.host,
            port=self.endpoint.port,
            identifier=self._config.client_id,
            username=self.endpoint.username,
            password=password.get_secret_value() if password else None,
            keepalive=self._config.keepalive_s,
            tls_context=self._tls,
            max_inflight_messages=self._config.max_inflight,
            **session,
            timeout=self._config.publish_timeout_s,
            will=will,
            logger=_AIOMQTT_LOG,
        )

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[Connection]:
        """One connection; raises :class:`BrokerAuthError` when the broker refuses our identity."""
        node = self.sparkplug_node()
        client = self._client(node)
        try:
            await client.__aenter__()
        except aiomqtt.MqttError as exc:
            if _rc(exc) in _AUTH_CODES:
                raise BrokerAuthError(
                    f"the broker at {self.endpoint} refused client {self._config.client_id!r}: "
                    f"{exc}. Check the user name and password in FACTORY_MQTT_URL and the "
                    "broker's ACL; the agent does not retry this."
                ) from None
            raise PublishError(
                f"cannot connect to the MQTT broker at {self.endpoint}: {exc}"
            ) from exc
        except (OSError, ssl.SSLError) as exc:
            raise PublishError(
                f"cannot connect to the MQTT broker at {self.endpoint}: {exc}"
            ) from exc
        conn = Connection(self, client, node)
        try:
            if node is not None:
                await conn.listen_for_commands()
            yield conn
        finally:
            if conn.listener is not None:
                conn.listener.cancel()
            with contextlib.suppress(aiomqtt.MqttError, OSError):
                await client.__aexit__(None, None, None)


class Connection:
    def __init__(
        self, publisher: MqttPublisher, client: aiomqtt.Client, node: SparkplugNode | None = None
    ) -> None:
        self._publisher = publisher
        self._client = client
        self.node = node
        self.listener: asyncio.Task[None] | None = None

    async def listen_for_commands(self) -> None:
        """Sparkplug: subscribe to our NCMD topic; a rebirth request publishes the births."""
        assert self.node is not None
        node = self.node
        await self._client.subscribe(node.topic("NCMD"), qos=1)

        async def listen() -> None:
            async for message in self._client.messages:
                payload = message.payload
                if isinstance(payload, bytes) and node.command(payload):
                    with contextlib.suppress(PublishError):
                        await self._in_order(node.births())

        self.listener = asyncio.create_task(listen(), name="sparkplug commands")

    async def _in_order(self, messages: list[tuple[str, bytes]]) -> None:
        """Publish in this order (each handed to the client before any is awaited: the seq
        of a Sparkplug node must reach the broker in order), then wait for every PUBACK."""
        sent = [asyncio.ensure_future(self.publish(t, p)) for t, p in messages]
        results = await asyncio.gather(*sent, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r

    async def send(self, topic: str, payload: bytes) -> None:
        """Our message (a JSON array of readings of one topic): as it is, or, for a
        Sparkplug node, as its DBIRTH/DDATA messages."""
        if self.node is None:
            await self.publish(topic, payload)
            return
        try:
            parsed = self._publisher.parse(topic)
        except TopicError as exc:
            raise PublishError(f"cannot send {topic} as Sparkplug: {exc}") from exc
        readings = json.loads(payload)
        await self._in_order(self.node.messages(parsed.path, parsed.channel, readings))

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish with QoS 1 and return once the broker has acknowledged it."""
        try:
            await self._client.publish(topic, payload, qos=1, retain=retain)
        except aiomqtt.MqttError as exc:
            raise PublishError(f"publish to {topic} failed: {exc}") from exc

    async def announce(self, *, online: bool, client_id: str) -> int:
        """Retained status of the gateway and of each machine it serves; how many were sent.
        A Sparkplug node: its births (online) or its death certificate (a clean stop)."""
        if self.node is not None:
            # What a host stores as status: one per device birth, and at the death one per
            # device (the node's own birth and death are no machine's).
            node = self.node
            await self._in_order(node.births() if online else [node.death()])
            return 0 if online else node.dbirths + len(node.devices)
        p = self._publisher
        payload = status_payload(online, client_id)
        paths = list(p.machines)
        gateway = gateway_path(client_id, p.machines)
        if gateway is not None:
            paths.append(gateway)
        for path in paths:
            await self.publish(p.topic(path, Channel.STATUS), payload, retain=True)
        return len(paths)
