"""`factory deadletter`: list, show and re-ingest, through the real SQLite store that
ingest keeps its dead letters in."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from pathlib import Path

import pytest

from factory_cli.main import main
from ingest.deadletter import reingest
from store.base import DeadLetter, letter_id
from store.sqlite import SQLiteStore

TOPIC = "factory/v1/plant1/assembly/line1/m01/telemetry"
GOOD = b'{"ts": 1767600000000, "seq": 1, "state": "RUNNING", "total_count": 5, "good_count": 5}'


async def _keep(db: Path, letters: list[DeadLetter], source: str) -> list[int]:
    store = SQLiteStore(db)
    await store.open()
    try:
        box = store.deadletters(source=source, max_payload_bytes=200)
        await box.add(letters)
        return await box.ids()
    finally:
        await store.close()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[int]]:
    for key in list(os.environ):
        if key.startswith("FACTORY_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("FACTORY_STORE_URL", f"sqlite:///{tmp_path / 't.db'}")
    # Two ingest processes kept these: one list.
    asyncio.run(_keep(tmp_path / "t.db", [
        # Rejected by the store at the time (say, InfluxDB said 400); valid today.
        DeadLetter(topic=TOPIC, payload=GOOD, error="InfluxDB write returned 400", stage="store"),
        DeadLetter(topic=TOPIC, payload=b"{nope", error="payload is not valid JSON"),
    ], "ingest-1"))  # fmt: skip
    asyncio.run(_keep(tmp_path / "t.db", [
        DeadLetter(topic=TOPIC, payload=b"[" + GOOD * 5 + b"]", error="too big"),
    ], "ingest-2"))  # fmt: skip
    ids = [letter_id(TOPIC, p) for p in (GOOD, b"{nope", b"[" + GOOD * 5 + b"]")]
    return tmp_path, ids


def test_list_and_show(env: tuple[Path, list[int]], capsys: pytest.CaptureFixture[str]) -> None:
    _, ids = env
    assert main(["deadletter"]) == 0
    out = capsys.readouterr().out
    assert "3 dead letter(s)" in out and f"#{ids[1]}" in out and "not valid JSON" in out
    assert "ingest-1" in out and "ingest-2" in out
    assert main(["deadletter", "show", str(ids[0])]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown[0]["payload"] == GOOD.decode() and shown[0]["stage"] == "store"
    assert shown[0]["source"] == "ingest-1"
    assert main(["deadletter", "show", "99"]) == 1


def test_reingest_stores_what_now_passes_and_keeps_the_rest(
    env: tuple[Path, list[int]], capsys: pytest.CaptureFixture[str]
) -> None:
    db, ids = env
    assert main(["deadletter", "reingest", "--all"]) == 1  # two cannot be re-ingested
    out = capsys.readouterr().out
    assert "re-ingested 1 dead letter(s), 1 readings" in out
    assert f"#{ids[1]} still rejected: payload is not valid JSON" in out
    assert f"#{ids[2]} kept only in part" in out
    with sqlite3.connect(db / "t.db") as conn:
        assert conn.execute("SELECT seq, total_count FROM telemetry").fetchall() == [(1, 5)]
        left = [r[0] for r in conn.execute("SELECT id FROM deadletter ORDER BY id")]
    assert left == sorted(ids[1:])


async def test_the_same_message_rejected_twice_is_kept_once(tmp_path: Path) -> None:
    # Redelivered after a crash, or rejected by two processes of the group.
    bad = DeadLetter(topic=TOPIC, payload=b"{nope", error="payload is not valid JSON")
    await _keep(tmp_path / "t.db", [bad], "ingest-1")
    assert await _keep(tmp_path / "t.db", [bad], "ingest-2") == [letter_id(TOPIC, b"{nope")]


async def test_two_operators_reingesting_one_letter_store_it_once(tmp_path: Path) -> None:
    (letter_id,) = await _keep(tmp_path / "t.db", [
        DeadLetter(topic=TOPIC, payload=GOOD, error="InfluxDB write returned 400", stage="store")
    ], "ingest-1")  # fmt: skip
    stores = [SQLiteStore(tmp_path / "t.db") for _ in range(2)]
    for s in stores:
        await s.open()
    try:
        results = await asyncio.gather(*(
            reingest(s.deadletters(source="cli", max_payload_bytes=200), [letter_id], s,
                     root="factory", max_payload_bytes=1 << 20, max_readings=100)
            for s in stores
        ))  # fmt: skip
        assert all(r.stored == [letter_id] or r.stored == [] for r in results)
        assert await stores[0].deadletters(source="cli", max_payload_bytes=1).count() == 0
    finally:
        for s in stores:
            await s.close()
    with sqlite3.connect(tmp_path / "t.db") as conn:
        assert conn.execute("SELECT count(*) FROM telemetry").fetchone() == (1,)
