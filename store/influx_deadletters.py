"""Dead letters in InfluxDB: one series of the ``deadletter`` measurement (v1 and v2)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import SecretStr

from store.base import DeadLetter, LineProtocolStore, StoreEndpoint, kept
from telemetry.layout import DEADLETTER, FieldKind
from telemetry.lineprotocol import FieldValue, line


class Querier(Protocol):
    """InfluxQL over the v1 ``/query`` endpoint (:class:`store.influx_v1.InfluxV1Reader`)."""

    async def _query(
        self, q: str, *, epoch: str = "ms", method: str = "GET"
    ) -> list[dict[str, Any]]: ...


DEADLETTER_MAX_PAYLOAD = 32_768
"""Payload bytes kept per dead letter in InfluxDB: as base64 text it stays below the
64 KiB that InfluxDB 1.x allows a string field."""


class InfluxDeadLetters:
    """The ``deadletter`` measurement: one series (no tags), a point per letter at the time
    of its id (microseconds), read and deleted with InfluxQL."""

    def __init__(
        self,
        store: LineProtocolStore,
        reader: Querier,
        endpoint: StoreEndpoint,
        *,
        token: SecretStr | None,
        source: str,
        max_payload_bytes: int,
    ) -> None:
        self._store = store
        self._endpoint = endpoint
        self._token = token
        self._reader = reader
        self._source = source
        self._limit = min(max_payload_bytes, DEADLETTER_MAX_PAYLOAD)

    async def add(self, letters: Sequence[DeadLetter]) -> None:
        now = int(time.time() * 1000)
        lines = []
        for letter in letters:
            k = kept(letter, source=self._source, limit=self._limit, now_ms=now)
            assert k.id is not None
            fields: list[tuple[str, FieldValue, FieldKind]] = [
                ("source", k.source, "str"),
                ("stage", k.stage, "str"),
                ("topic", json.dumps(k.topic), "str"),
                ("payload", base64.b64encode(k.payload).decode(), "str"),
                ("payload_bytes", k.payload_bytes, "int"),
                ("truncated", k.truncated, "bool"),
                ("error", json.dumps(k.error), "str"),
                ("received_ms", k.received_ms, "int"),
            ]
            lines.append(line(DEADLETTER.name, {}, fields, k.id))
        await self._store._write_lines(lines, precision="u")

    async def _select(self, q: str) -> list[DeadLetter]:
        out = []
        for series in await self._reader._query(q, epoch="u"):
            cols = series["columns"]
            for values in series.get("values", []):
                row = dict(zip(cols, values, strict=True))
                out.append(
                    DeadLetter(
                        id=int(row["time"]),
                        source=row["source"],
                        stage=row["stage"],
                        topic=json.loads(row["topic"]),
                        payload=base64.b64decode(row["payload"]),
                        payload_bytes=int(row["payload_bytes"]),
                        truncated=bool(row["truncated"]),
                        error=json.loads(row["error"]),
                        received_ms=int(row["received_ms"]),
                    )
                )
        return out

    async def newest(self, limit: int) -> list[DeadLetter]:
        # Ids are content hashes, not times: sort by when they were received.
        found = await self._select(f'SELECT * FROM "{DEADLETTER.name}"')
        found.sort(key=lambda d: (-d.received_ms, d.id or 0))
        return found[:limit]

    async def get(self, ids: Sequence[int]) -> list[DeadLetter]:
        # One query for any number of ids (InfluxQL cannot OR time ranges together).
        wanted = set(ids)
        found = await self._select(f'SELECT * FROM "{DEADLETTER.name}"')
        return sorted((d for d in found if d.id in wanted), key=lambda d: d.id or 0)

    async def ids(self) -> list[int]:
        series = await self._reader._query(
            f'SELECT payload_bytes FROM "{DEADLETTER.name}"', epoch="u"
        )
        return sorted({int(v[0]) for s in series for v in s.get("values", [])})

    async def count(self) -> int:
        series = await self._reader._query(f'SELECT count(payload_bytes) FROM "{DEADLETTER.name}"')
        return sum(int(v[1]) for s in series for v in s.get("values", []))

    async def remove(self, ids: Sequence[int]) -> None:
        for i in ids:
            await self._reader._query(
                f'DELETE FROM "{DEADLETTER.name}" WHERE time >= {int(i)}u AND time <= {int(i)}u',
                method="POST",
            )

    async def set_error(self, letter: DeadLetter, error: str) -> None:
        # The same series and time: the error field is replaced, the rest kept.
        assert letter.id is not None
        fields: list[tuple[str, FieldValue, FieldKind]] = [("error", json.dumps(error), "str")]
        await self._store._write_lines(
            [line(DEADLETTER.name, {}, fields, letter.id)], precision="u"
        )
