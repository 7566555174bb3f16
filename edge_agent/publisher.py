"""MQTT connections of the edge agent: QoS 1, TLS, credentials kept secret, birth and will.

A message counts as delivered only after its PUBACK. Reconnection is a loop the
agent owns (``edge_agent.agent``); this module makes one connection at a time.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
from collections.abc import AsyncIterator, Sequence

import aiomqtt

from edge_agent.config import EdgeConfig
from edge_agent.errors import AuthError, PublishError
from telemetry import __version__
from telemetry.codec import encode_one
from telemetry.models import Channel
from telemetry.topic import DEFAULT_ROOT, MachinePath, Topic
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

    def _client(self) -> aiomqtt.Client:
        gateway = gateway_path(self._config.client_id, self.machines)
        will = None
        if gateway is not None:
            will = aiomqtt.Will(
                self.topic(gateway, Channel.STATUS),
                status_payload(False, self._config.client_id),
                qos=1,
                retain=True,
            )
        password = self.endpoint.password
        return aiomqtt.Client(
            hostname=self.endpoint.host,
            port=self.endpoint.port,
            identifier=self._config.client_id,
            username=self.endpoint.username,
            password=password.get_secret_value() if password else None,
            keepalive=self._config.keepalive_s,
            tls_context=self._tls,
            max_inflight_messages=self._config.max_inflight,
            clean_session=False,
            timeout=self._config.publish_timeout_s,
            will=will,
            logger=_AIOMQTT_LOG,
        )

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[Connection]:
        """One connection; raises :class:`AuthError` when the broker refuses our identity."""
        client = self._client()
        try:
            await client.__aenter__()
        except aiomqtt.MqttError as exc:
            if _rc(exc) in _AUTH_CODES:
                raise AuthError(
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
        conn = Connection(self, client)
        try:
            yield conn
        finally:
            with contextlib.suppress(aiomqtt.MqttError, OSError):
                await client.__aexit__(None, None, None)


class Connection:
    def __init__(self, publisher: MqttPublisher, client: aiomqtt.Client) -> None:
        self._publisher = publisher
        self._client = client

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish with QoS 1 and return once the broker has acknowledged it."""
        try:
            await self._client.publish(topic, payload, qos=1, retain=retain)
        except aiomqtt.MqttError as exc:
            raise PublishError(f"publish to {topic} failed: {exc}") from exc

    async def announce(self, *, online: bool, client_id: str) -> int:
        """Retained status of the gateway and of each machine it serves; how many were sent."""
        p = self._publisher
        payload = status_payload(online, client_id)
        paths = list(p.machines)
        gateway = gateway_path(client_id, p.machines)
        if gateway is not None:
            paths.append(gateway)
        for path in paths:
            await self.publish(p.topic(path, Channel.STATUS), payload, retain=True)
        return len(paths)
