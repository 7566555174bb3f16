"""Readers: fetch one window of telemetry and energy per machine, as numpy arrays.

Only the needed fields and time range are asked for (SQL or InfluxQL), with a
look-back before the window so that the state at its start is known.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from telemetry.layout import ENERGY, TAGS, TELEMETRY
from telemetry.models import STATE_CODES
from telemetry.topic import MachinePath
from telemetry.urls import StoreEndpoint

_CODE = {s.value: c for s, c in STATE_CODES.items()}


class ReaderError(Exception):
    """The store could not be read; the message says what to check."""


@dataclass(frozen=True, slots=True)
class TelemetrySeries:
    t_ms: np.ndarray
    state: np.ndarray  # int8 codes of MachineState, -1 for unknown
    total_count: np.ndarray
    good_count: np.ndarray
    ideal_cycle_s: np.ndarray  # NaN where not reported


@dataclass(frozen=True, slots=True)
class EnergySeries:
    t_ms: np.ndarray
    energy_kwh: np.ndarray
    power_kw: np.ndarray


@dataclass(frozen=True, slots=True)
class MachineData:
    telemetry: TelemetrySeries | None
    energy: EnergySeries | None


TEL_FIELDS = ("state", "total_count", "good_count", "ideal_cycle_s")
EN_FIELDS = ("energy_kwh", "power_kw")
assert set(TEL_FIELDS) <= set(TELEMETRY.field_names)
assert set(EN_FIELDS) <= set(ENERGY.field_names)


def _telemetry(rows: list[tuple[Any, ...]]) -> TelemetrySeries:
    rows.sort(key=lambda r: r[0])
    return TelemetrySeries(
        t_ms=np.array([r[0] for r in rows], dtype=np.int64),
        state=np.array([_CODE.get(r[1], -1) for r in rows], dtype=np.int8),
        total_count=np.array([r[2] if r[2] is not None else 0 for r in rows], dtype=np.int64),
        good_count=np.array([r[3] if r[3] is not None else 0 for r in rows], dtype=np.int64),
        ideal_cycle_s=np.array(
            [r[4] if r[4] is not None else np.nan for r in rows], dtype=np.float64
        ),
    )


def _energy(rows: list[tuple[Any, ...]]) -> EnergySeries:
    rows.sort(key=lambda r: r[0])
    return EnergySeries(
        t_ms=np.array([r[0] for r in rows], dtype=np.int64),
        energy_kwh=np.array([r[1] for r in rows], dtype=np.float64),
        power_kw=np.array([r[2] for r in rows], dtype=np.float64),
    )


def _assemble(
    tel: dict[MachinePath, list[tuple[Any, ...]]], en: dict[MachinePath, list[tuple[Any, ...]]]
) -> dict[MachinePath, MachineData]:
    out = {}
    for path in sorted(set(tel) | set(en)):
        out[path] = MachineData(
            telemetry=_telemetry(tel[path]) if path in tel else None,
            energy=_energy(en[path]) if path in en else None,
        )
    return out


class Reader(Protocol):
    async def read(self, start_ms: int, end_ms: int) -> dict[MachinePath, MachineData]: ...


class SQLiteReader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self, start_ms: int, end_ms: int) -> dict[MachinePath, MachineData]:
        if not self.path.exists():
            raise ReaderError(
                f"no store at {self.path}: run `factory ingest` (or `factory demo`) first, "
                "or set FACTORY_STORE_URL"
            )
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            tags = ", ".join(TAGS)
            tel: dict[MachinePath, list[tuple[Any, ...]]] = defaultdict(list)
            for row in conn.execute(
                f"SELECT {tags}, ts, {', '.join(TEL_FIELDS)} FROM telemetry "
                "WHERE ts >= ? AND ts <= ?",
                (start_ms, end_ms),
            ):
                tel[MachinePath(*row[:4])].append(row[4:])
            en: dict[MachinePath, list[tuple[Any, ...]]] = defaultdict(list)
            for row in conn.execute(
                f"SELECT {tags}, ts, {', '.join(EN_FIELDS)} FROM energy WHERE ts >= ? AND ts <= ?",
                (start_ms, end_ms),
            ):
                en[MachinePath(*row[:4])].append(row[4:])
        except sqlite3.Error as exc:
            raise ReaderError(f"cannot read {self.path}: {exc}") from exc
        finally:
            conn.close()
        return _assemble(tel, en)

    async def read(self, start_ms: int, end_ms: int) -> dict[MachinePath, MachineData]:
        return await asyncio.to_thread(self._read, start_ms, end_ms)


class InfluxV1Reader:
    """InfluxQL over the v1 ``/query`` endpoint, chunked, epoch milliseconds.

    For ``influxdb2://`` stores the same endpoint is InfluxDB 2's v1 compatibility
    API: the bucket needs a DBRP mapping, and the token authenticates.
    """

    def __init__(self, endpoint: StoreEndpoint, *, token: str | None = None) -> None:
        self.endpoint = endpoint
        self._token = token

    async def _query(self, q: str) -> list[dict[str, Any]]:
        import aiohttp

        auth = (
            aiohttp.BasicAuth(self.endpoint.username, self.endpoint.password.get_secret_value())
            if self.endpoint.username and self.endpoint.password
            else None
        )
        headers = {"Authorization": f"Token {self._token}"} if self._token else None
        params = {
            "db": str(self.endpoint.database),
            "q": q,
            "epoch": "ms",
            "chunked": "true",
            "chunk_size": "20000",
        }
        series: list[dict[str, Any]] = []
        try:
            async with (
                aiohttp.ClientSession(
                    base_url=self.endpoint.base_url,
                    auth=auth,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=300),
                ) as session,
                session.get("/query", params=params) as resp,
            ):
                if resp.status != 200:
                    raise ReaderError(
                        f"InfluxDB query failed ({resp.status}): {(await resp.text())[:300]}"
                    )
                async for raw in resp.content:
                    if not raw.strip():
                        continue
                    doc = json.loads(raw)
                    for result in doc.get("results", []):
                        if "error" in result:
                            raise ReaderError(f"InfluxDB query error: {result['error']}")
                        series.extend(result.get("series", []))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ReaderError(
                f"cannot reach InfluxDB at {self.endpoint.base_url}: {exc or type(exc).__name__}"
            ) from exc
        return series

    async def _select(
        self, measurement: str, fields: Iterable[str], start_ms: int, end_ms: int
    ) -> dict[MachinePath, list[tuple[Any, ...]]]:
        cols = ", ".join(f'"{f}"' for f in fields)
        q = (
            f'SELECT {cols} FROM "{measurement}" '
            f"WHERE time >= {start_ms}ms AND time <= {end_ms}ms "
            f"GROUP BY {', '.join(TAGS)}"
        )
        out: dict[MachinePath, list[tuple[Any, ...]]] = defaultdict(list)
        for s in await self._query(q):
            tags = s.get("tags", {})
            path = MachinePath(*(tags[t] for t in TAGS))
            out[path].extend(tuple(v) for v in s.get("values", []))
        return out

    async def read(self, start_ms: int, end_ms: int) -> dict[MachinePath, MachineData]:
        tel = await self._select(TELEMETRY.name, TEL_FIELDS, start_ms, end_ms)
        en = await self._select(ENERGY.name, EN_FIELDS, start_ms, end_ms)
        return _assemble(tel, en)


def open_reader(
    endpoint: StoreEndpoint, *, token: str | None = None
) -> SQLiteReader | InfluxV1Reader:
    if endpoint.kind == "sqlite":
        assert endpoint.path is not None
        return SQLiteReader(endpoint.path)
    return InfluxV1Reader(endpoint, token=token)


__all__ = [
    "EnergySeries",
    "InfluxV1Reader",
    "MachineData",
    "ReaderError",
    "SQLiteReader",
    "TelemetrySeries",
    "open_reader",
]
