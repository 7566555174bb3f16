"""The report's energy, anomaly and maturity sections against the simulator's truth, and the
`factory report` command in its three formats."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from analytics.config import GRID_FACTOR_VN_2023
from analytics.energy.indicators import fit_baseline
from analytics.oee.accounts import Window
from analytics.oee.analysis import analyse
from analytics.oee.anomaly import Detector, evaluate
from analytics.report.maturity import RUBRIC, assess
from factory_cli.main import main
from simulators.fleet import Fleet, FleetConfig
from store.sqlite import SQLiteReader
from tests.helpers.fleets import PLANTS, report_of, store_fleet


async def test_energy_agrees_with_the_truth(small_plant: tuple[Fleet, Path]) -> None:
    fleet, db = small_plant
    report = await report_of(fleet, db)
    truth = fleet.truth_report()
    energy = report["energy"]
    (meter_path, meter) = next(iter(energy["main_meters"].items()))
    t = truth["main_meters"][meter_path]
    # Main meter register: 10 Wh resolution; blocks: exact edges on the 5-s grid.
    assert meter["energy_kwh"] == pytest.approx(t["energy_kwh"], abs=0.02)
    assert meter["non_production_kwh"] == pytest.approx(t["non_production_kwh"], abs=0.05)
    assert meter["peak_15min"]["kw"] == pytest.approx(t["peak_15min_kw"], abs=0.1)
    plant = energy["plant"]
    assert plant["energy_kwh"] == pytest.approx(truth["plant"]["energy_kwh"], rel=1e-4)
    assert plant["co2e_kg"] == pytest.approx(plant["energy_kwh"] * GRID_FACTOR_VN_2023)
    assert plant["kwh_per_good_unit"] == pytest.approx(
        truth["plant"]["kwh_per_good_unit"], rel=0.01
    )
    idle = truth["plant"]["idle_kwh"] / truth["plant"]["energy_kwh"]
    assert plant["idle_share"] == pytest.approx(idle, abs=0.002)
    # The site's peak is its own (machines summed block by block), at most the sum of peaks.
    peaks = [m["peak_15min"]["kw"] for m in energy["machines"].values()]
    assert max(peaks) < plant["peak_15min"]["kw"] <= sum(peaks) + 1e-9
    baseline = energy["baseline"]
    assert baseline["slope_kwh_per_unit"] > 0 and baseline["r2"] > 0.5
    # Pareto: every minute of downtime by reason, largest first.
    minutes = [p["minutes"] for p in report["pareto"]]
    assert minutes == sorted(minutes, reverse=True)
    assert sum(minutes) == pytest.approx(sum(truth["plant"]["downtime_by_reason_min"].values()))


def test_baseline_flags_a_period_that_uses_too_much() -> None:
    rows = [(f"h{i}", 100.0 + 10 * (i % 5), 20.0 + 0.5 * (100 + 10 * (i % 5))) for i in range(24)]
    rows[17] = ("h17", 120.0, 20 + 0.5 * 120 + 15)  # a compressor left running
    base = fit_baseline(rows)
    assert base is not None
    assert [p["period"] for p in base.periods if p["flagged"]] == ["h17"]
    assert base.slope_kwh_per_unit == pytest.approx(0.5, abs=0.05)


async def test_anomaly_events_find_injected_bearing_faults_early(tmp_path: Path) -> None:
    fleet = Fleet(FleetConfig(machines=12, lines=2, hours=30, seed=5))
    await store_fleet(fleet, tmp_path / "t.db")
    window = Window(fleet.start_ms + 6 * 3_600_000, fleet.end_ms)
    analysis = await analyse(SQLiteReader(tmp_path / "t.db"), window, detector=Detector())
    assert analysis.events is not None and analysis.sensor_machines == 12
    anomalies = {str(p): a for p, a in fleet.anomalies().items()}
    score = evaluate(analysis.events, anomalies, window=(window.start_ms, window.end_ms))
    assert score["faults"] >= 15
    assert score["recall"] >= 0.85
    assert score["precision"] >= 0.85
    assert score["lead_min_median"] >= 15  # the ramp lasts 30 minutes


async def test_maturity_traces_every_score_to_a_measured_value(
    small_plant: tuple[Fleet, Path],
) -> None:
    fleet, db = small_plant
    m = (await report_of(fleet, db))["maturity"]
    assert 3.0 <= m["level"] <= 4.0 and m["label"] == f"{m['level']:.1f}"
    assert len(m["criteria"]) == len(RUBRIC)
    for c in m["criteria"]:
        assert (c["score"] is None) == (c["value"] is None), c["criterion"]
        assert c["source"]
    by_key = {c["criterion"]: c for c in m["criteria"]}
    assert by_key["machines_reporting"]["value"] == 1.0
    assert by_key["downtime_with_reason"]["value"] == pytest.approx(1.0)
    assert by_key["freshness_s"]["value"] is None  # a window in the past: not measurable
    assert 0 < by_key["sub_metered_share"]["value"] < 1
    assert m["next_steps"] and all(s["criterion"] in by_key for s in m["next_steps"])


def test_without_connected_machines_the_plant_is_pre_3_0() -> None:
    values = {c.key: None for c in RUBRIC} | {"machines_reporting": 0.4, "oee": 0.9}
    result = assess(values)
    assert result["label"] == "pre-3.0" and result["level"] is None
    assert result["next_steps"][0]["criterion"] == "machines_reporting"


def run_cli(args: list[str], db: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> str:
    monkeypatch.setenv("FACTORY_STORE_URL", f"sqlite:///{db}")
    assert main(args) == 0
    out: str = capsys.readouterr().out
    return out


CLI_WINDOW = ["--from", "2026-01-05T05:00+07:00", "--to", "2026-01-06T11:00+07:00",
              "--plant", str(PLANTS / "small.toml")]  # fmt: skip


def test_report_command_json_csv_and_table(
    small_plant: tuple[Fleet, Path], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    fleet, db = small_plant
    window = CLI_WINDOW
    data = json.loads(run_cli(["report", *window, "--format", "json", "--by", "shift"],
                              db, monkeypatch, capsys))  # fmt: skip
    truth = fleet.truth_report()
    assert data["oee"]["plant"]["oee"] == pytest.approx(truth["plant"]["oee"], abs=1e-4)
    assert [p["period"] for p in data["periods"]] == [
        "2026-01-05 morning", "2026-01-05 afternoon", "2026-01-06 morning"]  # fmt: skip
    assert set(data) >= {"oee", "energy", "maturity", "anomalies", "pareto", "flags"}

    rows = list(csv.DictReader(io.StringIO(
        run_cli(["report", *window, "--format", "csv", "--line", "line2"], db, monkeypatch, capsys)
    )))  # fmt: skip
    machines = {r["name"] for r in rows if r["level"] == "machine"}
    assert machines == {"plant1/assembly/line2/cnc01", "plant1/assembly/line2/cnc02",
                        "plant1/assembly/line2/packer"}  # fmt: skip
    line = next(r for r in rows if r["level"] == "line")
    assert float(line["oee"]) == pytest.approx(truth["lines"]["plant1/assembly/line2"]["oee"])

    table = run_cli(["report", *window], db, monkeypatch, capsys)
    assert "press01" in table and "Smart Factory maturity" in table and "breakdown" in table


def test_report_command_in_vietnamese(
    small_plant: tuple[Fleet, Path], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    fleet, db = small_plant
    window = CLI_WINDOW
    truth = fleet.truth_report()
    table = run_cli(["report", *window, "--lang", "vi"], db, monkeypatch, capsys)
    assert "Mức độ trưởng thành Nhà máy thông minh" in table
    assert "Thời gian dừng theo lý do (Pareto)" in table
    assert "Smart Factory maturity" not in table and "Downtime by reason" not in table
    assert "OEE và tổn thất, 22:00 04/01/2026 đến 04:00 06/01/2026 UTC" in table
    # The plant's OEE, written the Vietnamese way (decimal comma), and its bill in dong.
    oee = f"{truth['plant']['oee'] * 100:.1f}".replace(".", ",") + "%"
    assert oee in table
    assert re.search(r"[0-9]{1,3}(\.[0-9]{3})+\xa0₫ cho [0-9.]+,[0-9] kWh", table), table
    # The language can come from the setting too; CSV headers then are Vietnamese, numbers plain.
    monkeypatch.setenv("FACTORY_LANG", "vi")
    rows = list(csv.DictReader(io.StringIO(run_cli(
        ["report", *window, "--format", "csv", "--line", "line2"], db, monkeypatch, capsys
    ))))  # fmt: skip
    line = next(r for r in rows if r["cấp"] == "dây chuyền")
    assert float(line["OEE"]) == pytest.approx(truth["lines"]["plant1/assembly/line2"]["oee"])
    assert {r["kỳ"] for r in rows} == {"khoảng thời gian"}
    english = run_cli(["report", *window, "--lang", "en"], db, monkeypatch, capsys)
    assert "Smart Factory maturity" in english and "Mức độ" not in english
