"""InfluxDB through the v1 HTTP API (``/write``, ``/query``): InfluxDB 1.x, 2.x (DBRP) and 3.x."""

from __future__ import annotations

import json

import aiohttp

from ingest.errors import StoreError, retry_after
from ingest.store import LineProtocolStore
from telemetry.urls import StoreEndpoint

# Status codes where retrying cannot help: the batch itself is wrong.
_DROP = {400, 413, 422}


class InfluxV1Store(LineProtocolStore):
    """Posts line protocol, millisecond precision. 204 means durable in the WAL."""

    def __init__(self, endpoint: StoreEndpoint, *, timeout_s: float = 30.0) -> None:
        self.endpoint = endpoint
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._auth = (
            aiohttp.BasicAuth(endpoint.username, endpoint.password.get_secret_value())
            if endpoint.username and endpoint.password
            else None
        )

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                base_url=self.endpoint.base_url, timeout=self._timeout, auth=self._auth
            )
        await self._create_database()

    async def _create_database(self) -> None:
        assert self._session is not None
        name = str(self.endpoint.database).replace("\\", "\\\\").replace('"', '\\"')
        try:
            async with self._session.post(
                "/query", data={"q": f'CREATE DATABASE "{name}"'}
            ) as resp:
                if resp.status >= 300:
                    body = await resp.text()
                    raise StoreError(
                        f"InfluxDB at {self.endpoint} refused CREATE DATABASE "
                        f"({resp.status}): {body[:300]}",
                        action="retry",
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise StoreError(
                f"cannot reach InfluxDB at {self.endpoint.base_url}: {exc or type(exc).__name__}",
                action="retry",
            ) from exc

    async def _write_lines(self, lines: list[str]) -> int:
        assert self._session is not None, "open() the store first"
        if not lines:
            return 0
        body = ("\n".join(lines) + "\n").encode()
        params = {"db": str(self.endpoint.database), "precision": "ms"}
        try:
            async with self._session.post("/write", params=params, data=body) as resp:
                if resp.status == 204:
                    return len(lines)
                text = await resp.text()
                wait = retry_after(resp.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise StoreError(
                f"cannot reach InfluxDB at {self.endpoint.base_url}: {exc or type(exc).__name__}",
                action="retry",
            ) from exc
        try:
            detail = json.loads(text).get("error", text)
        except (ValueError, AttributeError):
            detail = text
        if resp.status == 404 and "database not found" in str(detail):
            await self._create_database()
        message = f"InfluxDB write returned {resp.status}: {str(detail)[:500]}"
        if resp.status in _DROP:
            raise StoreError(message, action="drop")
        raise StoreError(message, action="retry", retry_after_s=wait)

    async def ping(self) -> bool:
        if self._session is None:
            return False
        try:
            async with self._session.get("/ping") as resp:
                return resp.status == 204
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
