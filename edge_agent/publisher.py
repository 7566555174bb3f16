"""QoS 1 publishing to the broker; a message counts as delivered only after its PUBACK."""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
import time
from types import TracebackType
from typing import Any

import aiomqtt

from edge_agent.config import EdgeConfig
from edge_agent.errors import PublishError
from telemetry import __version__
from telemetry.models import Channel
from telemetry.topic import DEFAULT_ROOT, MachinePath, Topic
from telemetry.urls import MqttEndpoint

# aiomqtt warns on every publish beyond a handful in flight, which is our normal
# operation (the agent bounds in-flight messages itself); keep only its errors.
_AIOMQTT_LOG = logging.getLogger("edge_agent.aiomqtt")
_AIOMQTT_LOG.setLevel(logging.ERROR)


def _status_payload(online: bool, client_id: str) -> bytes:
    now = int(time.time() * 1000)
    return json.dumps(
        {"ts": now, "seq": now, "online": online, "agent": client_id, "version": __version__}
    ).encode()


class MqttPublisher:
    """An MQTT connection for one edge agent. Use as an async context manager."""

    def __init__(
        self,
        *,
        endpoint: MqttEndpoint,
        config: EdgeConfig,
        root: str = DEFAULT_ROOT,
    ) -> None:
        plain = endpoint.password and not endpoint.tls and not endpoint.is_loopback
        if plain and not config.allow_plaintext_password:
            raise PublishError(
                f"refusing to send a password in clear text to {endpoint.host}: use mqtts://, "
                "or set FACTORY_EDGE__ALLOW_PLAINTEXT_PASSWORD=true if the network is trusted"
            )
        self._endpoint = endpoint
        self._config = config
        self._root = root
        tls_context = None
        if endpoint.tls:
            tls_context = ssl.create_default_context(
                cafile=str(config.ca_file) if config.ca_file else None
            )
        self._client = aiomqtt.Client(
            hostname=endpoint.host,
            port=endpoint.port,
            identifier=config.client_id,
            username=endpoint.username,
            password=endpoint.password.get_secret_value() if endpoint.password else None,
            keepalive=config.keepalive_s,
            tls_context=tls_context,
            max_inflight_messages=config.max_inflight,
            clean_session=False,
            timeout=config.publish_timeout_s,
            logger=_AIOMQTT_LOG,
        )

    def topic(self, path: MachinePath, channel: Channel) -> str:
        return str(Topic(path, channel, self._root))

    async def __aenter__(self) -> MqttPublisher:
        try:
            await self._client.__aenter__()
        except aiomqtt.MqttError as exc:
            raise PublishError(
                f"cannot connect to the MQTT broker at {self._endpoint}: {exc}. "
                "Check FACTORY_MQTT_URL and that the broker is running."
            ) from exc
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            await self._client.__aexit__(exc_type, exc, tb)

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish with QoS 1 and return once the broker has acknowledged."""
        try:
            await self._client.publish(
                topic, payload, qos=1, retain=retain, timeout=self._config.publish_timeout_s
            )
        except aiomqtt.MqttError as exc:
            raise PublishError(f"publish to {topic} failed: {exc}") from exc

    async def announce(self, machines: Any, *, online: bool) -> None:
        """Retained birth (``online``) or farewell status message for each machine served."""
        payload = _status_payload(online, self._config.client_id)
        for path in machines:
            await self.publish(self.topic(path, Channel.STATUS), payload, retain=True)
