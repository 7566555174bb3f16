"""InfluxDB through the v2 API (``influxdb-client``'s async client): 2.x, 3.x and Cloud."""

from __future__ import annotations

import aiohttp
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.rest import ApiException
from pydantic import SecretStr

from ingest.errors import StoreError, retry_after
from ingest.store import LineProtocolStore
from telemetry.urls import StoreEndpoint

_DROP = {400, 413, 422}


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
        if self._client is None:
            self._client = InfluxDBClientAsync(
                url=self.endpoint.base_url,
                token=self._token.get_secret_value() if self._token else "",
                org=str(self.endpoint.org),
                timeout=self._timeout_ms,
            )

    async def _write_lines(self, lines: list[str]) -> int:
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
            message = f"InfluxDB v2 write returned {status}: {detail}"
            if status in _DROP:
                raise StoreError(message, action="drop") from exc
            headers: dict[str, str] = dict(exc.headers or {})
            raise StoreError(
                message, action="retry", retry_after_s=retry_after(headers.get("Retry-After"))
            ) from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise StoreError(
                f"cannot reach InfluxDB at {self.endpoint.base_url}: {exc or type(exc).__name__}",
                action="retry",
            ) from exc
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
