"""The energy forecast end to end: a simulated week and a bit in a store, `factory forecast`
against the simulator's truth, --save and --accuracy, the JSON API and the dashboard panel
in Chromium, and stored forecasts read back from a real InfluxDB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analytics.config import ForecastConfig
from analytics.forecast.model import SLOT_MS, wape
from analytics.forecast.stored import forecast_points, make_outlook, stored_forecasts
from core.clock import iso
from simulators.fleet import Fleet
from store import open_reader, open_store, parse_store_url
from tests.helpers.fleets import MIDNIGHT_VN, PLANTS
from tests.helpers.servers import Server
from tests.helpers.web import chromium_page, dashboard, get, settled, shot

pytestmark = pytest.mark.integration

DAY = 86_400_000
ORIGIN = MIDNIGHT_VN + 8 * DAY  # a Tuesday 00:00 in Ho Chi Minh City


def factory(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACTORY_STORE_URL": f"sqlite:///{db}"}
    env.pop("FACTORY_PLANT", None)
    return subprocess.run([sys.executable, "-m", "factory_cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def truth_kw(fleet: Fleet, start: int, n: int) -> dict[str, np.ndarray]:
    edges = start + SLOT_MS * np.arange(n + 1, dtype=np.int64)
    out: dict[str, np.ndarray] = {}
    for s in fleet.streams:
        key = f"line {s.path.key('line')}"
        out[key] = out.get(key, 0) + np.diff(s.run.energy_kwh(edges)) * 3.6e6 / SLOT_MS
    for m in fleet.meters:
        out[f"site {m.path.site}"] = np.diff(m.total_kwh(edges)) * 3.6e6 / SLOT_MS
    return out


def test_factory_forecast_is_close_to_the_truth(week_store: tuple[Fleet, Path]) -> None:
    fleet, db = week_store
    run = factory(db, "forecast", "--plant", str(PLANTS / "small.toml"), "--format", "json",
                  "--at", iso(ORIGIN))  # fmt: skip
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["origin_ms"] == ORIGIN and doc["timezone"] == "Asia/Ho_Chi_Minh"
    assert doc["history_days"] == 8.0
    truth = truth_kw(fleet, ORIGIN, 96)
    names = {f"{t['kind']} {t['name']}" for t in doc["targets"]}
    assert names == {"line plant1/assembly/line1", "line plant1/assembly/line2", "site plant1",
                     "rest plant1"}  # fmt: skip
    for t in doc["targets"]:
        q = np.array([b[1:] for b in t["blocks"]])
        assert [b[0] for b in t["blocks"]] == [ORIGIN + k * SLOT_MS for k in range(96)]
        assert (q[:, 0] <= q[:, 1] + 1e-9).all() and (q[:, 1] <= q[:, 2] + 1e-9).all()
        key = f"{t['kind']} {t['name']}"
        if key in truth:
            assert wape(truth[key], q[:, 1]) < 0.2, key
            kwh = truth[key].sum() * SLOT_MS / 3.6e6
            # From midnight, the rest of the day is the next 24 hours.
            assert t["rest_of_day_kwh"] == t["next_24h_kwh"]
            assert t["next_24h_kwh"]["p50"] == pytest.approx(kwh, rel=0.1), key
    (demand,) = doc["demand"]
    assert demand["site"] == "plant1" and demand["contracted_kw"] == 140.0
    assert {f["load"] for f in doc["flexible"]} == {"production", "idle base load",
                                                    "non-production"}  # fmt: skip


def test_save_then_accuracy_and_clear_refusals(week_store: tuple[Fleet, Path]) -> None:
    fleet, db = week_store
    plant = str(PLANTS / "small.toml")
    saved = factory(db, "forecast", "--plant", plant, "--at", iso(ORIGIN - 3_600_000), "--save")
    assert saved.returncode == 0, saved.stderr
    # 3 targets x 96 blocks as latest, and the 92 of them in the next day as day-ahead.
    assert "stored 564 forecast points" in saved.stderr
    acc = factory(db, "forecast", "--plant", plant, "--accuracy", "1", "--format", "json",
                  "--at", iso(ORIGIN + DAY))  # fmt: skip
    assert acc.returncode == 0, acc.stderr
    rows = {(r["kind"], r["name"]): r for r in json.loads(acc.stdout)}
    assert set(rows) == {("line", "plant1/assembly/line1"), ("line", "plant1/assembly/line2"),
                         ("site", "plant1")}  # fmt: skip
    truth = truth_kw(fleet, ORIGIN, 96)
    site = rows[("site", "plant1")]
    assert site["blocks"] == 96 - 4  # the first hour was forecast the same day, not ahead
    assert site["actual_kwh"] == pytest.approx(truth["site plant1"][4:].sum() / 4, rel=1e-3)
    assert site["wape"] < 0.2 and 0.3 <= site["coverage_80"] <= 1
    for args, words in [
        (("forecast",), "needs the plant model"),
        (("forecast", "--plant", plant, "--at", "2030-01-01T00:00:00Z"), "no metered energy"),
        (("forecast", "--plant", plant, "--history-days", "200"), "between 1 and 92"),
        (("forecast", "--plant", plant, "--plan", str(db.parent / "none.csv")), "not found"),
    ]:
        run = factory(db, *args)
        assert run.returncode == 2 and words in run.stderr, (args, run.stderr)
        assert "Traceback" not in run.stderr


async def test_api_and_the_dashboard_panel(week_store: tuple[Fleet, Path], tmp_path: Path
                                           ) -> None:  # fmt: skip
    fleet, db = week_store
    async with dashboard(fleet, db) as base:
        status, doc = await get(f"{base}/api/forecast?at={ORIGIN}")
        assert status == 200
        status, none = await get(f"{base}/api/forecast?at=2031-01-01T00:00:00Z")
        assert status == 200 and "no metered energy" in none["unavailable"]
        status, bad = await get(f"{base}/api/forecast?at=soon")
        assert status == 400 and "not an ISO time" in bad["error"]
        async with chromium_page(base) as (page, problems):
            await page.goto(base + "/")
            await settled(page)
            tiles = await page.eval_on_selector_all("#forecast-kpis .tile b",
                                                    "bs => bs.map(b => b.textContent)")  # fmt: skip
            flex = await page.eval_on_selector_all("#forecast-flex tbody tr", "rs => rs.length")
            drawn = await page.eval_on_selector_all("#forecast-chart polyline", "ps => ps.length")
            await shot(page, tmp_path, "dashboard-forecast.png", "#forecast")
            status, live = await get(f"{base}/api/forecast")
    assert problems == [], problems
    site = next(t for t in doc["targets"] if t["kind"] == "site")
    assert len(site["blocks"]) == 96
    past = doc["past"]["site plant1"]
    # Two days of metered blocks before the origin, each next to its forecast of a day ahead.
    assert len(past["actual"]) == len(past["forecast"]) == 192
    assert [a[0] for a in past["actual"]] == [f[0] for f in past["forecast"]]
    truth = truth_kw(fleet, ORIGIN - 2 * DAY, 192)["site plant1"]
    np.testing.assert_allclose([a[1] for a in past["actual"]], truth, rtol=1e-3, atol=0.5)
    # The page shows the live outlook (from the end of the served window) of the plant's site.
    live_site = next(t for t in live["targets"] if t["kind"] == "site")
    p50 = live_site["next_24h_kwh"]["p50"]
    assert tiles[0].startswith(f"{p50:,.0f} kWh"), tiles
    assert flex == len(live["flexible"]) and drawn == 3


async def test_stored_forecasts_read_back_from_influxdb(
    week_store: tuple[Fleet, Path], influx_server: Server, influx_db: str
) -> None:
    fleet, db = week_store
    plant = fleet.plant
    assert plant is not None
    made, _ = await make_outlook(open_reader(parse_store_url(f"sqlite:///{db}")), plant, ORIGIN,
                                 config=ForecastConfig(history_days=7))  # fmt: skip
    points = forecast_points(made, ORIGIN - 1)
    url = parse_store_url(f"influxdb://127.0.0.1:{influx_server.port}/{influx_db}")
    store = open_store(url)
    await store.open()
    await store.write_points(points)
    await store.close()
    rows = await stored_forecasts(open_reader(url), "day_ahead", ORIGIN, ORIGIN + DAY)
    expected = sorted(
        (p.ts_ms, p.tags["site"], p.tags["line"], p.fields["p50_kw"])
        for p in points if p.tags["run"] == "day_ahead"
    )  # fmt: skip
    assert sorted((r.start_ms, r.path.site, r.path.line, r.p50_kw) for r in rows) == expected
    assert len(rows) == 3 * 96 and {r.issued_ms for r in rows} == {ORIGIN - 1}
    assert await stored_forecasts(open_reader(url), "latest", ORIGIN + DAY, ORIGIN + 2 * DAY) == []
