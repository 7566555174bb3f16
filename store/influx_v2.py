"""InfluxDB through the v2 API (``influxdb-client``'s async client): 2.x, 3.x and Cloud.

``influxdb2://host:port/bucket?org=ORG`` (``influxdb2s://`` for HTTPS), token from
``FACTORY_INFLUX_TOKEN``. Writes go through the v2 API; reads use InfluxQL on the
v1 compatibility API (:class:`store.influx_v1.InfluxV1Reader` with the token).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, parse_qs, unquote

from pydantic import SecretStr

from store.base import ChangeMarks, LineProtocolStore, StoreEndpoint, writer_name
from store.errors import StoreError, unreachable
from store.influx_deadletters import InfluxDeadLetters
from store.influx_v1 import InfluxV1Reader, token_headers
from telemetry.layout import CHANGES, DEADLETTER
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
        self.marks = ChangeMarks(writer_name())

    async def open(self) -> None:
        from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

        if self._client is None:
            self._client = InfluxDBClientAsync(
                url=self.endpoint.base_url,
                token=self._token.get_secret_value() if self._token else "",
                org=str(self.endpoint.org),
                timeout=self._timeout_ms,
            )

    async def _write_lines(self, lines: list[str], precision: str = "ms") -> int:
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
                # WritePrecision values are these strings; the v1 API's "u" is "us" here.
                write_precision={"u": "us"}.get(precision, precision),  # type: ignore[arg-type]
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

    async def remove_changes(self, through_ms: int) -> None:
        await v2_delete(self.endpoint, self._token, _rfc3339(0), _rfc3339(through_ms), CHANGES.name)

    async def ping(self) -> bool:
        if self._client is None:
            return False
        try:
            return bool(await self._client.ping())
        except Exception:  # ping reports reachability, never raises
            return False

    async def _delete_marks_after(self, now_ms: int) -> None:
        await v2_delete(self.endpoint, self._token, _rfc3339(now_ms + 1), "2262-01-01T00:00:00Z",
                        CHANGES.name, f'writer="{self.marks.writer}"')  # fmt: skip

    async def close(self) -> None:
        if self._client is not None:
            await self._release_marks()
            client, self._client = self._client, None
            await client.close()  # type: ignore[no-untyped-call]

    def deadletters(self, *, source: str, max_payload_bytes: int) -> InfluxV2DeadLetters:
        return InfluxV2DeadLetters(
            self, InfluxV1Reader(self.endpoint, token=self._token, timeout_s=60), self.endpoint,
            token=self._token, source=source, max_payload_bytes=max_payload_bytes,
        )  # fmt: skip


class InfluxV2DeadLetters(InfluxDeadLetters):
    """Read through the v1 compatibility API (InfluxQL); InfluxDB 2 has no InfluxQL
    DELETE, so a dead letter is removed with the v2 delete API."""

    async def remove(self, ids: Sequence[int]) -> None:
        for i in ids:
            at = _rfc3339(i / 1000)
            await v2_delete(self._endpoint, self._token, at, at, DEADLETTER.name)


def _rfc3339(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


async def v2_delete(
    endpoint: StoreEndpoint,
    token: SecretStr | None,
    start: str,
    stop: str,
    measurement: str,
    where: str | None = None,
) -> None:
    """The v2 delete API: the points of ``measurement`` (and ``where``, a tag predicate)
    between two RFC 3339 times."""
    import aiohttp

    params = {"org": str(endpoint.org), "bucket": str(endpoint.database)}
    predicate = f'_measurement="{measurement}"' + (f" AND {where}" if where else "")
    body = {"start": start, "stop": stop, "predicate": predicate}
    try:
        async with (
            aiohttp.ClientSession(
                base_url=endpoint.base_url, headers=token_headers(token),
                timeout=aiohttp.ClientTimeout(total=60),
            ) as session,
            session.post("/api/v2/delete", params=params, json=body) as resp,
        ):  # fmt: skip
            if resp.status >= 300:
                raise StoreError.from_status(
                    resp.status,
                    f"InfluxDB v2 delete returned {resp.status}: {(await resp.text())[:300]}",
                )
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise StoreError(unreachable(endpoint.base_url, exc), action="retry") from exc
