"""InfluxDB through the v1 HTTP API (``/write``, InfluxQL ``/query``): 1.x, 2.x (DBRP), 3.x.

``influxdb://[user:pass@]host:port/database`` (``influxdbs://`` for HTTPS). The
reader here also serves ``influxdb2://`` stores through InfluxDB 2's v1
compatibility API (the bucket needs a DBRP mapping; the token authenticates).
aiohttp and orjson are imported when first used.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, unquote

from pydantic import SecretStr

from store.base import (
    AccountRow,
    ChangeMarks,
    LineProtocolStore,
    Row,
    StoreEndpoint,
    writer_name,
)
from store.errors import ReaderError, StoreError, unreachable
from store.influx_deadletters import InfluxDeadLetters
from telemetry.layout import (
    CHANGES,
    ENERGY,
    SENSOR_PREFIX,
    TAGS,
    TELEMETRY,
    Table,
)
from telemetry.topic import MachinePath
from telemetry.urls import UrlError, masked, port_of

if TYPE_CHECKING:
    import aiohttp

    from store.series import Columns, MachineData, SensorSeries

KIND = "influxdb"
SCHEMES = ("influxdb", "influxdbs")
PREFIX = "influxdb://"
CHUNK_ROWS = 20_000


def parse_url(raw: str, parts: SplitResult) -> StoreEndpoint:
    if not parts.hostname:
        raise UrlError(f"{masked(raw)!r} has no host, e.g. influxdb://127.0.0.1:8086/factory")
    database = parts.path.strip("/")
    if not database or "/" in database:
        raise UrlError(
            f"{masked(raw)!r} must name one database, e.g. influxdb://127.0.0.1:8086/factory"
        )
    return StoreEndpoint(
        kind=KIND,
        host=parts.hostname,
        port=port_of(raw, 8086, "the store URL"),
        database=unquote(database),
        tls=parts.scheme == "influxdbs",
        username=unquote(parts.username) if parts.username else None,
        password=SecretStr(unquote(parts.password)) if parts.password else None,
    )


def open_store(endpoint: StoreEndpoint, *, token: SecretStr | None = None) -> InfluxV1Store:
    return InfluxV1Store(endpoint)


def open_reader(endpoint: StoreEndpoint, *, token: SecretStr | None = None) -> InfluxV1Reader:
    return InfluxV1Reader(endpoint, token=token)


def basic_auth(endpoint: StoreEndpoint) -> aiohttp.BasicAuth | None:
    """The URL's user and password, if it has them."""
    import aiohttp

    if endpoint.username and endpoint.password:
        return aiohttp.BasicAuth(endpoint.username, endpoint.password.get_secret_value())
    return None


def token_headers(token: SecretStr | None) -> dict[str, str]:
    """The InfluxDB 2 token header, if there is a token."""
    return {"Authorization": f"Token {token.get_secret_value()}"} if token else {}


class InfluxV1Store(LineProtocolStore):
    """Posts line protocol, millisecond precision. 204 means durable in the WAL."""

    def __init__(self, endpoint: StoreEndpoint, *, timeout_s: float = 30.0) -> None:
        self.endpoint = endpoint
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None
        self.marks = ChangeMarks(writer_name())

    async def open(self) -> None:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                base_url=self.endpoint.base_url,
                timeout=aiohttp.ClientTimeout(total=self._timeout_s),
                auth=basic_auth(self.endpoint),
            )
        await self._create_database()

    async def _create_database(self) -> None:
        import aiohttp

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
            raise StoreError(unreachable(self.endpoint.base_url, exc), action="retry") from exc

    async def _write_lines(self, lines: list[str], precision: str = "ms") -> int:
        import aiohttp

        assert self._session is not None, "open() the store first"
        if not lines:
            return 0
        body = ("\n".join(lines) + "\n").encode()
        params = {"db": str(self.endpoint.database), "precision": precision}
        try:
            async with self._session.post("/write", params=params, data=body) as resp:
                if resp.status == 204:
                    return len(lines)
                text = await resp.text()
                wait = resp.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise StoreError(unreachable(self.endpoint.base_url, exc), action="retry") from exc
        try:
            detail = json.loads(text).get("error", text)
        except (ValueError, AttributeError):
            detail = text
        if resp.status == 404 and "database not found" in str(detail):
            await self._create_database()
        message = f"InfluxDB write returned {resp.status}: {str(detail)[:500]}"
        raise StoreError.from_status(resp.status, message, retry_after_header=wait)

    async def remove_changes(self, through_ms: int) -> None:
        await self._statement(f'DELETE FROM "{CHANGES.name}" WHERE time <= {int(through_ms)}ms')

    async def _statement(self, q: str) -> None:
        """An InfluxQL statement that changes data (the writer needs no JSON parser)."""
        import aiohttp

        assert self._session is not None, "open() the store first"
        try:
            async with self._session.post(
                "/query", params={"db": str(self.endpoint.database)}, data={"q": q}
            ) as resp:
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise StoreError(unreachable(self.endpoint.base_url, exc), action="retry") from exc
        if resp.status != 200 or '"error"' in text:
            raise StoreError(f"InfluxDB refused {q[:80]!r}: {text[:300]}", action="retry")

    async def ping(self) -> bool:
        import aiohttp

        if self._session is None:
            return False
        try:
            async with self._session.get("/ping") as resp:
                return resp.status == 204
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def _delete_marks_after(self, now_ms: int) -> None:
        writer = self.marks.writer.replace("'", "")
        await self._statement(
            f'DELETE FROM "{CHANGES.name}" WHERE "writer" = \'{writer}\' AND time > {now_ms}ms'
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._release_marks()
            session, self._session = self._session, None
            await session.close()

    def deadletters(self, *, source: str, max_payload_bytes: int) -> InfluxDeadLetters:
        return InfluxDeadLetters(
            self, InfluxV1Reader(self.endpoint, timeout_s=60), self.endpoint, token=None,
            source=source, max_payload_bytes=max_payload_bytes,
        )  # fmt: skip


class InfluxV1Reader:
    """InfluxQL over the v1 ``/query`` endpoint, chunked, epoch milliseconds."""

    def __init__(
        self, endpoint: StoreEndpoint, *, token: SecretStr | None = None, timeout_s: float = 300
    ) -> None:
        self.endpoint = endpoint
        self._token = token
        self._timeout_s = timeout_s

    async def _query(
        self, q: str, *, epoch: str = "ms", method: str = "GET"
    ) -> list[dict[str, Any]]:
        """The series of a query's answer; ``method`` POST for statements that change data."""
        import aiohttp

        params = {
            "db": str(self.endpoint.database),
            "q": q,
            "epoch": epoch,
            "chunked": "true",
            "chunk_size": str(CHUNK_ROWS),
        }
        series: list[dict[str, Any]] = []
        try:
            async with (
                aiohttp.ClientSession(
                    base_url=self.endpoint.base_url,
                    auth=basic_auth(self.endpoint),
                    headers=token_headers(self._token),
                    timeout=aiohttp.ClientTimeout(total=self._timeout_s),
                ) as session,
                session.request(method, "/query", params=params) as resp,
            ):
                if resp.status != 200:
                    raise ReaderError(
                        f"InfluxDB query failed ({resp.status}): {(await resp.text())[:300]}"
                    )
                # One JSON document per line; a line (a chunk of up to 20,000 rows) can be
                # megabytes long, beyond aiohttp's line reader, so lines are cut here.
                pending = b""
                async for block in resp.content.iter_chunked(1 << 20):
                    pending += block
                    *lines, pending = pending.split(b"\n")
                    for raw in lines:
                        _take(raw, series)
                _take(pending, series)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ReaderError(unreachable(self.endpoint.base_url, exc)) from exc
        return series

    async def _select(
        self, measurement: str, fields: Iterable[str], start_ms: int, end_ms: int
    ) -> dict[MachinePath, Columns]:
        cols = ", ".join(f'"{f}"' for f in fields)
        q = (
            f'SELECT {cols} FROM "{measurement}" '
            f"WHERE time >= {start_ms}ms AND time <= {end_ms}ms "
            f"GROUP BY {', '.join(TAGS)}"
        )
        rows: dict[MachinePath, list[Any]] = defaultdict(list)
        for s in await self._query(q):
            tags = s.get("tags", {})
            path = MachinePath(*(tags[t] for t in TAGS))
            rows[path].extend(s.get("values", []))
        return {path: list(zip(*r, strict=True)) for path, r in rows.items() if r}

    async def read(
        self, start_ms: int, end_ms: int, *, energy: bool = True
    ) -> dict[MachinePath, MachineData]:
        from store.series import EN_FIELDS, TEL_FIELDS, assemble

        if not energy:
            return assemble(await self._select(TELEMETRY.name, TEL_FIELDS, start_ms, end_ms), {})
        # Both measurements at once: InfluxDB answers each on its own core.
        tel, en = await asyncio.gather(
            self._select(TELEMETRY.name, TEL_FIELDS, start_ms, end_ms),
            self._select(ENERGY.name, EN_FIELDS, start_ms, end_ms),
        )
        return assemble(tel, en)

    async def read_sensor(
        self, name: str, start_ms: int, end_ms: int
    ) -> dict[MachinePath, SensorSeries]:
        import numpy as np

        from store.series import sensor_series

        cols = await self._select(TELEMETRY.name, (SENSOR_PREFIX + name,), start_ms, end_ms)
        out = {}
        for path, c in cols.items():
            t, v = sensor_series(c)
            keep = ~np.isnan(v)
            if keep.any():
                out[path] = (t[keep], v[keep])
        return out

    async def read_accounts(
        self, table: Table, period: str, start_ms: int, end_ms: int
    ) -> list[AccountRow]:
        if period not in ("hour", "day"):
            raise ValueError(f"no stored accounts per {period!r}")
        q = (
            f'SELECT "end_ms", "computed_ms", "entry" FROM "{table.name}" '
            f"WHERE \"period\" = '{period}' AND time >= {int(start_ms)}ms "
            f"AND time < {int(end_ms)}ms GROUP BY {', '.join(TAGS)}"
        )
        return [
            AccountRow(path, period, int(t), int(end), int(computed), entry)
            for path, values in await self._by_machine(q)
            for t, end, computed, entry in values
        ]

    async def read_rows(
        self, table: Table, start_ms: int, end_ms: int, where: Mapping[str, str] | None = None
    ) -> list[Row]:
        where = table.where(where)
        cols = ", ".join(f'"{f}"' for f in table.field_names)
        cond = "".join(f' AND "{t}" = {_literal(v)}' for t, v in where.items())
        q = (
            f'SELECT {cols} FROM "{table.name}" WHERE time >= {int(start_ms)}ms '
            f"AND time < {int(end_ms)}ms{cond} GROUP BY {', '.join(table.tags)}"
        )
        rows = [
            Row(
                {t: s.get("tags", {}).get(t, "") for t in table.tags},
                int(v[0]),
                {f: x for f, x in zip(table.field_names, v[1:], strict=True) if x is not None},
            )
            for s in await self._query_or_none(q)
            for v in s.get("values", [])
        ]
        return sorted(rows, key=lambda r: r.ts_ms)

    async def read_changes(self, after_ms: int) -> list[tuple[int, int]]:
        q = f'SELECT "readings", "bucket" FROM "{CHANGES.name}" WHERE time > {int(after_ms)}ms'
        return sorted(
            (int(v[2]), int(v[0]))
            for s in await self._query_or_none(q)
            for v in s.get("values", [])
        )

    async def _by_machine(self, q: str) -> list[tuple[MachinePath, list[list[Any]]]]:
        """The rows of a query grouped by the machine tags, per machine."""
        return [
            (MachinePath(*(s.get("tags", {})[t] for t in TAGS)), s.get("values", []))
            for s in await self._query_or_none(q)
        ]

    async def _query_or_none(self, q: str) -> list[dict[str, Any]]:
        """A query's series; none when nothing was written yet (no database)."""
        try:
            return await self._query(q)
        except ReaderError as exc:
            if "database not found" in str(exc):
                return []
            raise


def _literal(value: str) -> str:
    """An InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _take(raw: bytes, series: list[dict[str, Any]]) -> None:
    import orjson

    if not raw.strip():
        return
    doc = orjson.loads(raw)  # about 1.8x faster than json on these large documents
    for result in doc.get("results", []):
        if "error" in result:
            raise ReaderError(f"InfluxDB query error: {result['error']}")
        series.extend(result.get("series", []))
