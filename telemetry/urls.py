"""Connection URLs shared by the components: the MQTT broker and the store.

``mqtt://[user:pass@]host:port`` (``mqtts://`` for TLS) and
``sqlite:///relative/path.db`` / ``sqlite:////absolute/path.db`` /
``influxdb://[user:pass@]host:port/database`` (``influxdbs://`` for HTTPS, v1 API) /
``influxdb2://host:port/bucket?org=ORG`` (``influxdb2s://``, v2 API, token from the
``FACTORY_INFLUX_TOKEN`` setting).
Passwords are held as :class:`pydantic.SecretStr` and masked in every repr.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from pydantic import BeforeValidator, PlainSerializer, SecretStr


class UrlError(ValueError):
    """A URL that cannot be used; the message says what is wrong, never the password."""


def _port(raw: str, default: int, what: str) -> int:
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise UrlError(f"{what} has an invalid port; use a number from 1 to 65535") from None
    return port if port is not None else default


def _masked(raw: str) -> str:
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
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

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
            f"{_masked(raw)!r} must start with mqtt:// or mqtts://, e.g. mqtt://127.0.0.1:1883"
        )
    if not parts.hostname:
        raise UrlError(f"{_masked(raw)!r} has no host, e.g. mqtt://broker.plant.local:1883")
    if parts.path not in ("", "/"):
        raise UrlError(f"{_masked(raw)!r} must not have a path")
    tls = parts.scheme == "mqtts"
    return MqttEndpoint(
        host=parts.hostname,
        port=_port(raw, 8883 if tls else 1883, "the MQTT URL"),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=SecretStr(unquote(parts.password)) if parts.password else None,
    )


@dataclass(frozen=True, slots=True)
class StoreEndpoint:
    kind: Literal["sqlite", "influxdb", "influxdb2"]
    path: Path | None = None
    host: str | None = None
    port: int | None = None
    database: str | None = None
    tls: bool = False
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    org: str | None = None
    """InfluxDB 2.x organisation (``influxdb2://``); the database field holds the bucket."""

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def __str__(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.path}"
        user = f"{self.username}:***@" if self.username else ""
        scheme = self.kind + ("s" if self.tls else "")
        org = f"?org={self.org}" if self.org else ""
        return f"{scheme}://{user}{self.host}:{self.port}/{self.database}{org}"


def parse_store_url(value: object) -> StoreEndpoint:
    if isinstance(value, StoreEndpoint):
        return value
    if not isinstance(value, str):
        raise UrlError("expected a URL such as sqlite:///factory-data/telemetry.db")
    raw = value.strip()
    parts = urlsplit(raw)
    if parts.scheme == "sqlite":
        if parts.netloc:
            raise UrlError(
                f"{raw!r}: use three slashes for a relative path (sqlite:///data/t.db) "
                "and four for an absolute one (sqlite:////var/lib/factory/t.db)"
            )
        path = unquote(parts.path)[1:] if parts.path.startswith("/") else unquote(parts.path)
        if not path:
            raise UrlError(f"{raw!r} names no file, e.g. sqlite:///factory-data/telemetry.db")
        return StoreEndpoint(kind="sqlite", path=Path(path))
    if parts.scheme in ("influxdb", "influxdbs"):
        if not parts.hostname:
            raise UrlError(f"{_masked(raw)!r} has no host, e.g. influxdb://127.0.0.1:8086/factory")
        database = parts.path.strip("/")
        if not database or "/" in database:
            raise UrlError(
                f"{_masked(raw)!r} must name one database, e.g. influxdb://127.0.0.1:8086/factory"
            )
        return StoreEndpoint(
            kind="influxdb",
            host=parts.hostname,
            port=_port(raw, 8086, "the store URL"),
            database=unquote(database),
            tls=parts.scheme == "influxdbs",
            username=unquote(parts.username) if parts.username else None,
            password=SecretStr(unquote(parts.password)) if parts.password else None,
        )
    if parts.scheme in ("influxdb2", "influxdb2s"):
        return _influxdb2(raw, parts)
    raise UrlError(
        f"{_masked(raw)!r}: the store URL must start with sqlite:///, influxdb:// or influxdb2://"
    )


def _influxdb2(raw: str, parts: SplitResult) -> StoreEndpoint:
    example = "e.g. influxdb2://127.0.0.1:8086/factory?org=plant"
    if not parts.hostname:
        raise UrlError(f"{_masked(raw)!r} has no host, {example}")
    bucket = parts.path.strip("/")
    org = parse_qs(parts.query).get("org", [""])[0]
    if not bucket or "/" in bucket:
        raise UrlError(f"{_masked(raw)!r} must name one bucket, {example}")
    if not org:
        raise UrlError(f"{_masked(raw)!r} must name the organisation: add ?org=ORG")
    if parts.username or parts.password:
        raise UrlError(
            f"{_masked(raw)!r}: InfluxDB 2 authenticates with a token; set "
            "FACTORY_INFLUX_TOKEN instead of a user in the URL"
        )
    return StoreEndpoint(
        kind="influxdb2",
        host=parts.hostname,
        port=_port(raw, 8086, "the store URL"),
        database=unquote(bucket),
        tls=parts.scheme == "influxdb2s",
        org=org,
    )


def _wrap(parser: object) -> BeforeValidator:
    def validate(value: object) -> object:
        try:
            return parser(value)  # type: ignore[operator]
        except UrlError as exc:
            raise ValueError(str(exc)) from None

    return BeforeValidator(validate)


MqttUrl = Annotated[MqttEndpoint, _wrap(parse_mqtt_url), PlainSerializer(str)]
StoreUrl = Annotated[StoreEndpoint, _wrap(parse_store_url), PlainSerializer(str)]
