"""InfluxDB through the v2 API (``influxdb-client``'s async client): 2.x, 3.x and Cloud.

``influxdb2://host:port/bucket?org=ORG`` (``influxdb2s://`` for HTTPS), token from
``FACTORY_INFLUX_TOKEN``. Writes go through the v2 API; reads use InfluxQL on the
v1 compatibility API (:class:`store.influx_v1.InfluxV1Reader` with the token).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import SplitResult, parse_qs, unquote

from pydantic import SecretStr

from store.base import LineProtocolStore, StoreEndpoint
from store.errors import StoreError, unreachable
from store.influx_v1 import InfluxV1Reader
from telemetry.urls import UrlError, masked, port_of

if TYPE_CHECKING:
    from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

KIND = "influxdb2"
SCHEMES = ("influxdb2", "influxdb2s")
PREFIX = "influxdb2://"


def parse_url(raw: str, parts: SplitResult) -> StoreEndpoint:
    example = "e.g. influxdb2://127.0.0.1:8086/factory?org=plant"
    if not parts.hostname:
        raise UrlError(f"{masked(raw)!r} has no host, {example}")
    bucket = parts.path.strip("/")
    org = parse_qs(parts.query).get("org", [""])[0]
    if not bucket or "/" in bucket:
        raise UrlError(f"{masked(raw)!r} must name one bucket, {example}")
    if not org:
        raise UrlError(f"{masked(raw)!r} must name the organisation: add ?org=ORG")
    if parts.username or parts.password:
        raise UrlError(
            f"{masked(raw)!r}: InfluxDB 2 authenticates with a token; set "
            "FACTORY_INFLUX_TOKEN instead of a user in the URL"
        )
    return StoreEndpoint(
        kind=KIND,
        host=parts.hostname,
        port=port_of(raw, 8086, "the store URL"),
        database=unquote(bucket),
        tls=parts.scheme == "influxdb2s",
        org=org,
    )


def open_store(endpoint: StoreEndpoint, *, token: SecretStr | None = None) -> InfluxV2Store:
    return InfluxV2Store(endpoint, token=token)


def open_reader(endpoint: StoreEndpoint, *, token: SecretStr | None = None) -> InfluxV1Reader:
    return InfluxV1Reader(endpoint, token=token)


class InfluxV2Store(LineProtocolStore):
    """Writes line protocol to a bucket with a token; the same layout as the v1 writer."""

    def __init__(
        self, endpoint: StoreEndpoint, *, token: SecretStr | None, timeout_s: float = 30.0
    ) -> None:
        self.endpoint = endpoint
        self._token = token
        self._timeout_ms = int(timeout_s * 1000)
        self._client: InfluxDBClientAsync | None = None

    async def open(self) -> None:
        from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

        if self._client is None:
            self._client = InfluxDBClientAsync(
                url=self.endpoint.base_url,
                token=self._token.get_secret_value() if self._token else "",
                org=str(self.endpoint.org),
                timeout=self._timeout_ms,
            )

    async def _write_lines(self, lines: list[str]) -> int:
        import aiohttp
        from influxdb_client.rest import ApiException

        assert self._client is not None, "open() the store first"
        if not lines:
            return 0
        try:
            await self._client.write_api().write(
                bucket=str(self.endpoint.database),
                org=str(self.endpoint.org),
                record="\n".join(lines),
                write_precision="ms",  # type: ignore[arg-type]  # WritePrecision.MS is "ms"
            )
        except ApiException as exc:
            status = int(exc.status or 0)
            detail = str(exc.body or exc.reason or "")[:500]
            headers: dict[str, str] = dict(exc.headers or {})
            raise StoreError.from_status(
                status,
                f"InfluxDB v2 write returned {status}: {detail}",
                retry_after_header=headers.get("Retry-After"),
            ) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise StoreError(unreachable(self.endpoint.base_url, exc), action="retry") from exc
        return len(lines)

    async def ping(self) -> bool:
        if self._client is None:
            return False
        try:
            return bool(await self._client.ping())
        except Exception:  # ping reports reachability, never raises
            return False

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()  # type: ignore[no-untyped-call]
