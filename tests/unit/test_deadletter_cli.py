"""`factory deadletter`: list, show and re-ingest, through the real SQLite stores."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from factory_cli.main import main
from ingest.deadletter import DeadLetter, DeadLetterStore

TOPIC = "factory/v1/plant1/assembly/line1/m01/telemetry"
GOOD = b'{"ts": 1767600000000, "seq": 1, "state": "RUNNING", "total_count": 5, "good_count": 5}'


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("FACTORY_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("FACTORY_STORE_URL", f"sqlite:///{tmp_path / 't.db'}")
    monkeypatch.setenv("FACTORY_INGEST__DEADLETTER_PATH", str(tmp_path / "dl.db"))
    dl = DeadLetterStore(tmp_path / "dl.db", max_payload_bytes=200)
    dl.open_sync()
    dl.add_sync(
        [
            # Rejected by the store at the time (say, InfluxDB said 400); valid today.
            DeadLetter(
                topic=TOPIC, payload=GOOD, error="InfluxDB write returned 400", stage="store"
            ),
            DeadLetter(topic=TOPIC, payload=b"{nope", error="payload is not valid JSON"),
            DeadLetter(topic=TOPIC, payload=b"[" + GOOD * 5 + b"]", error="too big"),
        ]
    )
    dl.close()
    return tmp_path


def test_list_and_show(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deadletter"]) == 0
    out = capsys.readouterr().out
    assert "3 dead letter(s)" in out and "#2" in out and "not valid JSON" in out
    assert main(["deadletter", "show", "1"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown[0]["payload"] == GOOD.decode() and shown[0]["stage"] == "store"
    assert main(["deadletter", "show", "99"]) == 1


def test_reingest_stores_what_now_passes_and_keeps_the_rest(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deadletter", "reingest", "--all"]) == 1  # two cannot be re-ingested
    out = capsys.readouterr().out
    assert "re-ingested 1 dead letter(s), 1 readings" in out
    assert "#2 still rejected: payload is not valid JSON" in out
    assert "#3 kept only in part" in out
    with sqlite3.connect(env / "t.db") as conn:
        assert conn.execute("SELECT seq, total_count FROM telemetry").fetchall() == [(1, 5)]
    dl = DeadLetterStore(env / "dl.db")
    dl.open_sync()
    assert dl.all_ids_sync() == [2, 3]
    dl.close()
