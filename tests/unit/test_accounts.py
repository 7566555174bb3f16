"""Reports from stored accounts equal reports from raw readings (SQLite here; InfluxDB in
tests/integration/test_accounts_influx.py), over random windows, levels and plants."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from analytics.aggregation import Aggregator
from analytics.config import AnalyticsConfig
from analytics.oee.accounts import Window
from analytics.oee.stored import ACCOUNT
from analytics.report.build import compute_report
from plant.model import Plant, load_plant
from simulators.faults import Faults, fleet_messages
from simulators.fleet import Fleet, FleetConfig
from store import StoreEndpoint
from store.sqlite import SQLiteReader, SQLiteStore
from telemetry.codec import decode
from tests.helpers.fleets import MIDNIGHT_VN, PLANTS, assert_same, without_sources


async def store_messages(fleet: Fleet, faults: Faults, db: Path) -> None:
    store = SQLiteStore(db)
    await store.open()
    messages, _ = fleet_messages(fleet, faults, root="factory", batch=200)
    decoded = [decode(topic, payload) for topic, payload in messages]
    for i in range(0, len(decoded), 500):
        await store.write(decoded[i : i + 500])
    await store.close()


async def both(
    endpoint: StoreEndpoint, window: Window, plant: Plant | None, **kw: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    cfg = AnalyticsConfig()
    raw, _ = await compute_report(endpoint, window, config=cfg, plant=plant, raw=True, **kw)
    stored, _ = await compute_report(endpoint, window, config=cfg, plant=plant, **kw)
    # The freshness criterion depends on the clock; both are built for the same instant.
    return raw.as_json_dict(), stored.as_json_dict()


def random_windows(start_ms: int, end_ms: int, n: int, seed: int) -> list[Window]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a = rng.randrange(start_ms, end_ms - 3_600_000)
        b = rng.randrange(a + 600_000, min(end_ms, a + 40 * 3_600_000))
        out.append(Window(a, b))
    return out


@pytest.fixture(scope="module")
def stored_plant(tmp_path_factory: pytest.TempPathFactory) -> tuple[Fleet, StoreEndpoint]:
    plant = load_plant(PLANTS / "small.toml")
    fleet = Fleet(FleetConfig(hours=52, start_ms=MIDNIGHT_VN - 2 * 3_600_000, seed=23), plant)
    db = tmp_path_factory.mktemp("accounts") / "t.db"
    # PLC restarts (counter resets), devices silent for 40 minutes (longer than any reach of
    # a reading), late and out-of-order messages.
    faults = Faults(counter_resets=4, gaps=3, gap_s=2400, out_of_order=0.02, bursts=2,
                    burst_s=1800, seed=3)  # fmt: skip
    asyncio.run(store_messages(fleet, faults, db))
    endpoint = StoreEndpoint(kind="sqlite", path=db)
    # An hour later: the marks written with the readings have run out.
    aggregator = Aggregator(endpoint, token=None, plant=plant, period="shift", max_gap_s=60,
                            clock=lambda: time.time() + 3600)  # fmt: skip
    hours = asyncio.run(aggregator.pass_once())
    assert hours >= 52 and aggregator.stats.days == 2
    return fleet, endpoint


async def test_stored_accounts_cover_every_hour_and_day(
    stored_plant: tuple[Fleet, StoreEndpoint],
) -> None:
    fleet, endpoint = stored_plant
    assert endpoint.path is not None
    reader = SQLiteReader(endpoint.path)
    hours = await reader.read_accounts(ACCOUNT, "hour", fleet.start_ms, fleet.end_ms)
    days = await reader.read_accounts(ACCOUNT, "day", fleet.start_ms - 86_400_000, fleet.end_ms)
    machines = len(fleet.plant.machines()) + 1  # and the main meter
    assert len({r.start_ms for r in hours}) >= 52
    assert len(days) == 2 * (machines + 1)  # two whole days, each with its sentinel
    assert await reader.read_changes(0) == []  # every mark accounted for, and dropped


@pytest.mark.parametrize("by", [None, "hour", "shift", "day"])
async def test_reports_from_accounts_equal_reports_from_raw_readings(
    stored_plant: tuple[Fleet, StoreEndpoint], by: str | None
) -> None:
    fleet, endpoint = stored_plant
    windows = [
        Window(MIDNIGHT_VN, MIDNIGHT_VN + 86_400_000),  # a whole day
        Window(MIDNIGHT_VN + 6 * 3_600_000, MIDNIGHT_VN + 30 * 3_600_000),  # across midnight
        *random_windows(fleet.start_ms, fleet.end_ms, 3, seed=len(str(by))),
    ]
    for window in windows:
        raw, stored = await both(endpoint, window, fleet.plant, by=by)
        assert_same(without_sources(raw), without_sources(stored))
        if window.seconds == 86_400:
            assert raw["anomalies"]["events"] and raw["energy"]["main_meters"]
        if window.seconds >= 2 * 3600:  # a whole hour inside
            assert any(s["source"] == "accounts" for s in stored["sources"]), stored["sources"]
        assert raw["sources"] == [{"from": raw["window"]["from"], "to": raw["window"]["to"],
                                   "source": "raw"}]  # fmt: skip


async def test_narrowed_reports_agree(stored_plant: tuple[Fleet, StoreEndpoint]) -> None:
    fleet, endpoint = stored_plant
    path = fleet.plant.machines()[3][0]
    window = Window(MIDNIGHT_VN + 1_234_567, MIDNIGHT_VN + 40 * 3_600_000 + 7_654)
    for only in ({"site": path.site}, {"line": path.line}, {"machine": path.machine}):
        raw, stored = await both(endpoint, window, fleet.plant, only=dict.fromkeys(
            ("site", "area", "line", "machine")) | only)  # fmt: skip
        assert_same(without_sources(raw), without_sources(stored))


async def test_kpi_points_carry_the_tariffs_cost(stored_plant: tuple[Fleet, StoreEndpoint]) -> None:
    """`factory aggregate`'s points (what Grafana reads) price each period's energy as the report
    does: per line and for all machines, per day and per shift."""
    fleet, endpoint = stored_plant
    assert endpoint.path is not None
    with sqlite3.connect(endpoint.path) as conn:
        rows = conn.execute(
            "SELECT level, period, site, area, line, ts, period_end_ms, cost, "
            "cost_per_good_unit, peak_kwh, good_count FROM kpi "
            "WHERE level IN ('line', 'plant') AND period IN ('day', 'shift') ORDER BY ts"
        ).fetchall()
    by_window: dict[tuple[int, int], list[Any]] = {}
    for row in rows:
        by_window.setdefault((row[5], row[6]), []).append(row)
    days = [w for w in by_window if w[1] - w[0] == 86_400_000]
    shifts = [w for w in by_window if w[1] - w[0] < 86_400_000]
    assert len(days) == 2 and shifts
    checked = 0
    for window in (*days, shifts[len(shifts) // 2]):
        report, _ = await compute_report(endpoint, Window(*window), config=AnalyticsConfig(),
                                         plant=fleet.plant, raw=True)  # fmt: skip
        cost = report.as_json_dict()["energy"]["cost"]
        for level, _period, site, area, line, _s, _e, money, per_unit, peak, good in by_window[
            window
        ]:
            bill = cost["plant"] if level == "plant" else cost["lines"][f"{site}/{area}/{line}"]
            assert money == pytest.approx(bill["cost"], abs=0.5)  # the report rounds to the dong
            assert peak == pytest.approx(bill["peak_share"] * bill["kwh"], rel=1e-9, abs=1e-9)
            assert per_unit == pytest.approx(money / good, rel=1e-12)
            assert money > 0
            checked += 1
    assert checked >= 3 * 3  # two lines and all machines, in each of three periods


async def test_an_older_store_gains_the_new_kpi_columns(tmp_path: Path) -> None:
    """A store made before KPI points carried cost gets the columns when the aggregation
    next writes; its rows stay."""
    from analytics.aggregation import KPI
    from store.sqlite import SQLiteStore
    from telemetry.layout import Point

    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE kpi (site TEXT NOT NULL, area TEXT NOT NULL, line TEXT NOT NULL, "
            "machine TEXT NOT NULL, level TEXT NOT NULL, period TEXT NOT NULL, "
            "ts INTEGER NOT NULL, period_end_ms INTEGER, oee REAL, "
            "PRIMARY KEY (site, area, line, machine, level, period, ts)) WITHOUT ROWID"
        )
        conn.execute("INSERT INTO kpi VALUES ('s', 'a', 'l', 'm', 'machine', 'hour', 0, 1, 0.5)")
    store = SQLiteStore(db)
    await store.open()
    try:
        tags = {"site": "s", "area": "a", "line": "l", "machine": "m", "level": "machine",
                "period": "hour"}  # fmt: skip
        await store.write_points([Point(KPI, tags, 3_600_000, {"oee": 0.25, "cost": 10.0})])
    finally:
        await store.close()
    with sqlite3.connect(db) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(kpi)")}
        assert {"cost", "cost_per_good_unit", "peak_kwh", "idle_kwh"} <= columns
        rows = conn.execute("SELECT ts, oee, cost FROM kpi ORDER BY ts").fetchall()
        assert rows == [(0, 0.5, None), (3_600_000, 0.25, 10.0)]


async def test_a_moving_window_reuses_its_hours_and_follows_late_readings(
    small_plant: tuple[Fleet, Path], tmp_path: Path
) -> None:
    """The live view without stored accounts: a window moving by 30 minutes three times
    takes the hours it computed before from memory, and each report equals the raw one;
    a reading written late into a kept hour is seen at once (its change mark)."""
    import shutil

    from analytics.oee.stored import Recent
    from store import parse_store_url

    fleet, db = small_plant
    shutil.copy(db, tmp_path / "t.db")
    endpoint = parse_store_url(f"sqlite:///{tmp_path / 't.db'}")
    recent, cfg, start = Recent(), AnalyticsConfig(), fleet.start_ms + 2 * 3_600_000 + 17 * 60_000

    async def equal_to_raw(window: Window) -> dict[str, Any]:
        raw, _ = await compute_report(endpoint, window, config=cfg, plant=fleet.plant,
                                      raw=True, by="hour")  # fmt: skip
        got, _ = await compute_report(endpoint, window, config=cfg, plant=fleet.plant,
                                      by="hour", recent=recent)  # fmt: skip
        assert_same(without_sources(raw.as_json_dict()), without_sources(got.as_json_dict()))
        return got.as_json_dict()

    windows = [Window(start + k * 1_800_000, start + k * 1_800_000 + 8 * 3_600_000)
               for k in range(3)]  # fmt: skip
    for w in windows:
        await equal_to_raw(w)
    assert recent.hits >= 2 * 6  # the later windows' inner hours came from memory

    # A late reading: one machine DOWN for a reading in the middle of the last window.
    path = fleet.paths[0]
    at = windows[-1].start_ms + 3 * 3_600_000
    with sqlite3.connect(tmp_path / "t.db") as conn:
        ts, seq, total, good = conn.execute(
            "SELECT ts, seq, total_count, good_count FROM telemetry WHERE site = ? AND area = ? "
            "AND line = ? AND machine = ? AND ts >= ? ORDER BY ts LIMIT 1",
            (path.site, path.area, path.line, path.machine, at),
        ).fetchone()
    before = recent.hits
    topic = f"factory/v1/{path.site}/{path.area}/{path.line}/{path.machine}/telemetry"
    body = (f'{{"ts": {ts}, "seq": {seq}, "state": "DOWN", "reason": "late_jam", '
            f'"total_count": {total}, "good_count": {good}}}')  # fmt: skip
    store = SQLiteStore(tmp_path / "t.db")
    await store.open()
    await store.write([decode(topic, body.encode())])
    await store.close()
    late = await equal_to_raw(windows[-1])
    assert "late_jam" in late["oee"]["machines"][str(path)]["downtime_by_reason_min"]
    assert recent.hits - before < 8  # the hours the mark reaches were computed again
