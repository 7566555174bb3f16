"""The store contract, and opening a store from its URL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import SecretStr

from telemetry.codec import Message
from telemetry.layout import Point
from telemetry.lineprotocol import message_lines, point_line
from telemetry.urls import StoreEndpoint


class Store(Protocol):
    """Where validated readings go. ``write`` returns only once they are durable."""

    async def open(self) -> None: ...

    async def write(self, messages: Sequence[Message]) -> int:
        """Store every reading of ``messages``; return the number of readings written.

        Raises :class:`ingest.errors.StoreError` with ``action`` ``retry`` or ``drop``.
        """
        ...

    async def write_points(self, points: Sequence[Point]) -> int:
        """Store computed points (same tags and time: replaced)."""
        ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


class LineProtocolStore:
    """The InfluxDB writers: readings and computed points both go out as line protocol."""

    async def write(self, messages: Sequence[Message]) -> int:
        lines: list[str] = []
        for m in messages:
            lines.extend(message_lines(m))
        return await self._write_lines(lines)

    async def write_points(self, points: Sequence[Point]) -> int:
        return await self._write_lines([point_line(p) for p in points])

    async def _write_lines(self, lines: list[str]) -> int:
        raise NotImplementedError


def open_store(endpoint: StoreEndpoint, *, token: SecretStr | None = None) -> Store:
    """The store for a URL (not yet opened); ``token`` is for InfluxDB 2 (``influxdb2://``)."""
    if endpoint.kind == "sqlite":
        from ingest.sqlite_store import SQLiteStore

        assert endpoint.path is not None
        return SQLiteStore(endpoint.path)
    if endpoint.kind == "influxdb2":
        from ingest.influx_v2 import InfluxV2Store

        return InfluxV2Store(endpoint, token=token)
    from ingest.influx_v1 import InfluxV1Store

    return InfluxV1Store(endpoint)
