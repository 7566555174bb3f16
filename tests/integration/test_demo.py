"""`factory demo --format json`: one JSON document, KPIs within tolerance of the truth."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from factory_cli.main import main

pytestmark = pytest.mark.integration


def test_demo_json_matches_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in list(os.environ):
        if key.startswith("FACTORY_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # the default store lands in ./factory-data
    assert main(["demo", "--format", "json", "--duration", "0"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)  # exactly one JSON document on stdout
    # Everything published was stored (the demo fails when its wait for that times out);
    # stored adds each device's birth and farewell status readings.
    found = re.search(r"published ([0-9,]+) readings, stored ([0-9,]+)", captured.err)
    assert found, captured.err[-2000:]
    published, stored = (int(g.replace(",", "")) for g in found.groups())
    assert published > 0 and stored == published + 2 * 7, captured.err[-2000:]
    machines = doc["machines"]
    assert len(machines) == 6
    assert {m["line"] for m in machines} == {"line1", "line2"}
    for m in machines:
        assert set(m) >= {"site", "area", "line", "machine", "truth"}
        for key in ("availability", "performance", "quality", "oee"):
            assert 0 <= m[key] <= 1
            assert abs(m[key] - m["truth"][key]) <= 1e-4, (m["machine"], key)
        assert (m["total_count"], m["good_count"]) == (
            m["truth"]["total_count"], m["truth"]["good_count"])  # fmt: skip
        assert m["kwh_per_good_unit"] == pytest.approx(m["truth"]["kwh_per_good_unit"], rel=0.01)
    assert (tmp_path / "factory-data" / "telemetry.db").exists()

    # The data stays in the store: `factory report` finds it afterwards.
    assert main(["report", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["oee"]["machines"]) == 6
    for m in machines:
        stored = report["oee"]["machines"][f"{m['site']}/{m['area']}/{m['line']}/{m['machine']}"]
        assert stored["total_count"] == m["total_count"]
