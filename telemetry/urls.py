"""The broker's URL, and the rules every connection URL follows.

``mqtt://[user:pass@]host:port`` (``mqtts://`` for TLS). Store URLs are parsed by
their backend (:mod:`store`) with the helpers here. Passwords are held as
:class:`pydantic.SecretStr` and masked in every repr and message.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit

from pydantic import BeforeValidator, PlainSerializer, SecretStr

from telemetry.errors import WireError


class UrlError(WireError):
    """A URL that cannot be used; the message says what is wrong, never the password."""


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` is this machine only (``localhost``, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tls_files(ca_file: Path | None, cert_file: Path | None, key_file: Path | None) -> None:
    """The TLS files of an MQTT client exist, and a certificate comes with its key (a
    ValueError for a config validator)."""
    if (cert_file is None) != (key_file is None):
        raise ValueError("cert_file and key_file go together: set both or neither")
    for name, path in (("ca_file", ca_file), ("cert_file", cert_file), ("key_file", key_file)):
        if path is not None and not path.is_file():
            raise ValueError(f"{name} {path} does not exist")


def metrics_exposure(host: str, token: object) -> None:
    """Refuse /metrics and /healthz beyond loopback without a token (a ValueError that a
    config validator turns into a message naming the setting)."""
    if not is_loopback_host(host) and token is None:
        raise ValueError(
            f"metrics_host {host} is reachable from the network: set metrics_token too "
            "(scrapers then send 'Authorization: Bearer TOKEN'), or keep 127.0.0.1"
        )


def port_of(raw: str, default: int, what: str) -> int:
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise UrlError(f"{what} has an invalid port; use a number from 1 to 65535") from None
    return port if port is not None else default


def masked(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.password is None:
        return raw
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)

    def __str__(self) -> str:
        user = (
            f"{self.username}:***@"
            if self.username and self.password
            else (f"{self.username}@" if self.username else "")
        )
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def parse_mqtt_url(value: object) -> MqttEndpoint:
    if isinstance(value, MqttEndpoint):
        return value
    if not isinstance(value, str):
        raise UrlError("expected a URL such as mqtt://127.0.0.1:1883")
    raw = value.strip()
    parts = urlsplit(raw)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise UrlError(
            f"{masked(raw)!r} must start with mqtt:// or mqtts://, e.g. mqtt://127.0.0.1:1883"
        )
    if not parts.hostname:
        raise UrlError(f"{masked(raw)!r} has no host, e.g. mqtt://broker.plant.local:1883")
    if parts.path not in ("", "/"):
        raise UrlError(f"{masked(raw)!r} must not have a path")
    tls = parts.scheme == "mqtts"
    return MqttEndpoint(
        host=parts.hostname,
        port=port_of(raw, 8883 if tls else 1883, "the MQTT URL"),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=SecretStr(unquote(parts.password)) if parts.password else None,
    )


def _wrap(parser: object) -> BeforeValidator:
    def validate(value: object) -> object:
        try:
            return parser(value)  # type: ignore[operator]
        except UrlError as exc:
            raise ValueError(str(exc)) from None

    return BeforeValidator(validate)


MqttUrl = Annotated[MqttEndpoint, _wrap(parse_mqtt_url), PlainSerializer(str)]
