"""`factory serve`: the API, its OpenAPI spec under schemathesis, and the dashboard in a real
headless Chromium (Debian's, driven by Playwright) against a store filled by the simulator."""

from __future__ import annotations

import asyncio
import functools
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from simulators.fleet import Fleet
from tests.helpers.web import (
    chromium_page,
    dashboard,
    get,
    settled,
    shot,
    token,
    until_true,
)

pytestmark = pytest.mark.integration


async def test_api_answers_and_refuses_clearly(small_store: tuple[Fleet, Path]) -> None:
    fleet, db = small_store
    viewer = token(db, "viewer")
    async with dashboard(fleet, db, anonymous=False) as base:
        status, body = await get(f"{base}/api/report")
        assert status == 401 and "sign in first" in body["error"]
        ask = functools.partial(get, token=viewer)

        status, report = await ask(f"{base}/api/report")
        assert status == 200
        truth = fleet.truth_report()
        assert report["oee"]["plant"]["oee"] == pytest.approx(truth["plant"]["oee"], abs=1e-9)
        status, shifts = await ask(f"{base}/api/report?by=shift&line=line1")
        assert status == 200 and [p["period"] for p in shifts["periods"]] == [
            "2026-01-05 morning", "2026-01-05 afternoon"]  # fmt: skip
        assert set(shifts["oee"]["machines"]) == {"plant1/assembly/line1/press01",
                                                  "plant1/assembly/line1/press02",
                                                  "plant1/assembly/line1/welder"}  # fmt: skip
        status, timeline = await ask(f"{base}/api/timeline?machine=plant1/assembly/line2/cnc01")
        assert status == 200
        runs = timeline["runs"]
        assert runs[0]["start_ms"] == fleet.start_ms and runs[-1]["end_ms"] == fleet.end_ms
        running = sum(r["end_ms"] - r["start_ms"] for r in runs if r["loss"] == "running")
        assert running / 60_000 == pytest.approx(
            truth["machines"]["plant1/assembly/line2/cnc01"]["run_min"], abs=1e-6
        )
        for url, code, words in [
            ("/api/report?by=week", 400, "by"),
            ("/api/report?by=", 400, "by"),
            ("/api/report?from=yesterday", 400, "ISO"),
            ("/api/report?to=%C2%B9", 400, "ISO"),
            ("/api/report?from=2026-01-06T00:00Z&to=2026-01-05T00:00Z", 400, "after"),
            ("/api/timeline?machine=nope", 400, "site/area/line/machine"),
            ("/api/timeline?machine=a/b/c/d%20e", 400, "site/area/line/machine"),
            ("/api/timeline?machine=a/b/c/d", 404, "no telemetry"),
            ("/api/nothing", 404, "Not Found"),
        ]:
            status, body = await ask(base + url)
            assert status == code and words in body["error"], (url, body)


async def test_schemathesis_finds_no_failure(small_store: tuple[Fleet, Path]) -> None:
    fleet, db = small_store
    admin = token(db, "admin")
    async with dashboard(fleet, db, anonymous=False) as base:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "schemathesis.cli", "run", f"{base}/openapi.json",
            "--header", f"Authorization: Bearer {admin}",
            "--checks", "all", "--max-examples", "25", "--no-color",
            "--exclude-checks", "unsupported_method,positive_data_acceptance",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 300)
    text = out.decode()
    assert proc.returncode == 0, text[-4000:]


async def navigate(page: Any, action: Any) -> None:
    """Do something that redraws the view, and wait until the new view is drawn."""
    await page.evaluate("document.body.removeAttribute('data-complete')")
    await action()
    await settled(page)


async def test_dashboard_in_chromium_shows_the_api_numbers(
    small_store: tuple[Fleet, Path], tmp_path: Path
) -> None:
    fleet, db = small_store
    async with dashboard(fleet, db) as base, chromium_page(base) as (page, problems):
        started = time.monotonic()
        await page.goto(base + "/")
        await page.wait_for_selector("body[data-ready=true]", state="attached", timeout=20_000)
        shown_after = time.monotonic() - started
        await settled(page)
        cells = await page.eval_on_selector_all(
            "#children td[data-kpi][data-value]",
            "cs => cs.map(c => [c.dataset.key, c.dataset.kpi, c.dataset.value, c.textContent])",
        )
        tiles = await page.eval_on_selector_all("#kpis .tile b", "bs => bs.map(b => b.textContent)")
        energy_tiles = await page.eval_on_selector_all(
            "#energy-kpis .tile", "ts => ts.map(t => [t.children[0].textContent, "
            "t.children[1].textContent])",
        )  # fmt: skip
        heat = await page.eval_on_selector_all(
            "#heatmap rect[data-key]",
            "rs => rs.map(r => [r.dataset.key, r.dataset.period, r.dataset.value])",
        )
        await shot(page, tmp_path, "dashboard-overview.png")
        status, report = await get(f"{base}/api/report")
        _, hourly = await get(f"{base}/api/report?by=hour&from={fleet.start_ms}&to={fleet.end_ms}")
    assert problems == [], problems
    assert status == 200
    lines = report["oee"]["lines"]
    # One site and one area: the first screen shows the plant and its lines, not machines.
    seen = {(key, kpi): (value, text) for key, kpi, value, text in cells}
    assert {k for k, _ in seen} == set(lines)
    for key, account in lines.items():
        energy = report["energy"]["lines"][key]
        expected = {
            "oee": account["oee"], "availability": account["availability"],
            "performance": account["performance"], "quality": account["quality"],
            "kwh_per_good_unit": energy["kwh_per_good_unit"],
            **{f"loss:{k}": v for k, v in account["losses_min"].items()},
        }  # fmt: skip
        for kpi, value in expected.items():
            raw, text = seen[(key, kpi)]
            assert float(raw) == pytest.approx(value, rel=1e-12), (key, kpi)
            if kpi == "kwh_per_good_unit":
                assert text == f"{value:.4f}", (key, text)
            elif kpi in ("oee", "availability", "performance", "quality"):
                assert text.startswith(f"{value * 100:.1f} %"), (key, kpi, text)
    assert tiles[0] == f"{report['oee']['plant']['oee'] * 100:.1f} %"
    # The tariff's bill of the plant's machines (deploy/plants/small.toml has one).
    cost = report["energy"]["cost"]["plant"]
    shown = dict(energy_tiles)
    assert shown["Energy cost"] == f"₫{cost['cost']:,.0f}"
    assert shown["Cost per good unit"] == f"₫{cost['cost_per_good_unit']:,.1f}"
    assert shown["kWh at peak"] == f"{cost['peak_share'] * 100:.1f} %"
    # The heatmap: every line x hour, each cell the OEE of that line in that hour.
    assert len(heat) == len(lines) * len(hourly["periods"])
    by_period = {p["period"]: p for p in hourly["periods"]}
    for key, period, value in heat:
        expected = by_period[period]["lines"].get(key, {}).get("oee")
        assert (value == "" and expected is None) or float(value) == pytest.approx(
            expected, rel=1e-12
        )
    print(f"dashboard: overview shown {shown_after:.2f} s after opening the page")


async def test_choose_drill_sort_filter_heatmap_and_a_copied_link(
    small_store: tuple[Fleet, Path], tmp_path: Path
) -> None:
    fleet, db = small_store
    async with dashboard(fleet, db) as base, chromium_page(base) as (page, problems):
        await page.goto(base + "/")
        await settled(page)
        # Worst first by default; the OEE header sorts the other way.
        values = await page.eval_on_selector_all(
            "#children td[data-kpi=oee]", "cs => cs.map(c => Number(c.dataset.value))"
        )
        assert values == sorted(values)
        await page.click("th button[data-sort=oee]")
        await page.wait_for_selector("th[aria-sort=descending] button[data-sort=oee]")
        values = await page.eval_on_selector_all(
            "#children td[data-kpi=oee]", "cs => cs.map(c => Number(c.dataset.value))"
        )
        assert values == sorted(values, reverse=True) and "dir=desc" in page.url

        # Choose a window: the previous shift (the morning), from the plant's calendar.
        _, windows = await get(f"{base}/api/windows")
        morning = next(w for w in windows["windows"] if w["id"] == "previous_shift")
        assert "morning" in morning["label"]
        await navigate(page, lambda: page.select_option("#win", "previous_shift"))
        assert "win=previous_shift" in page.url
        _, report = await get(f"{base}/api/report?from={morning['from_ms']}&to={morning['to_ms']}")
        assert (
            await page.text_content("#window")
            == f"{report['window']['from']} to {report['window']['to']}"
        )
        plant_oee = report["oee"]["plant"]["oee"]
        assert await page.text_content("#kpis .tile b") == f"{plant_oee * 100:.1f} %"

        # Drill from the plant to a machine, and back through the breadcrumbs.
        await navigate(page, lambda: page.click("#children tr[data-key='plant1/assembly/line1'] a"))
        assert (
            await page.eval_on_selector_all(
                "#children tbody tr", "rs => rs.map(r => r.dataset.key)"
            )
            and "path=plant1%2Fassembly%2Fline1" in page.url
        )
        machines = await page.eval_on_selector_all(
            "#children tbody tr", "rs => rs.map(r => r.dataset.key)"
        )
        assert set(machines) == {
            m for m in report["oee"]["machines"] if m.startswith("plant1/assembly/line1/")
        }
        await navigate(
            page, lambda: page.click("#children tr[data-key='plant1/assembly/line1/press01'] a")
        )
        await page.wait_for_selector("#machine-page:not([hidden]) #gantt svg rect")
        stops = await page.eval_on_selector_all(
            "#stops tbody tr", "rs => rs.map(r => Number(r.dataset.minutes))"
        )
        assert stops and stops == sorted(stops, reverse=True), "stops, longest first"
        crumbs = await page.eval_on_selector_all("#crumbs li", "ls => ls.map(l => l.textContent)")
        assert crumbs == ["Plant", "plant1", "assembly", "line1", "press01"]
        await shot(page, tmp_path, "dashboard-machine.png")
        await navigate(page, lambda: page.click("#crumbs a[data-path='plant1/assembly/line1']"))
        assert await page.is_hidden("#machine-page")
        await navigate(page, lambda: page.click("#crumbs a[data-path='']"))
        keys = await page.eval_on_selector_all(
            "#children tbody tr", "rs => rs.map(r => r.dataset.key)"
        )
        assert set(keys) == set(report["oee"]["lines"]) and "win=previous_shift" in page.url

        # Filter: lines by name, and machines anywhere below by name.
        await page.fill("#filter", "line2")
        await until_true(page, "document.querySelectorAll('#children tbody tr').length === 1")
        await page.fill("#filter", "cnc")
        await until_true(page, "document.querySelectorAll('#children tbody tr').length === 0")
        found = await page.eval_on_selector_all("#found a", "as => as.map(a => a.dataset.found)")
        assert found == ["plant1/assembly/line2/cnc01", "plant1/assembly/line2/cnc02"]
        await page.fill("#filter", "")

        # A heatmap cell opens that line over that hour (by keyboard, as a user could).
        cell = page.locator("#heatmap rect[data-key='plant1/assembly/line2']").nth(2)
        period = await cell.get_attribute("data-period")
        await cell.focus()
        assert period in (await page.text_content("#heat-readout"))
        await navigate(page, lambda: cell.press("Enter"))
        assert "win=custom" in page.url and "path=plant1%2Fassembly%2Fline2" in page.url
        _, hourly = await get(
            f"{base}/api/report?by=hour&from={morning['from_ms']}&to={morning['to_ms']}"
        )
        opened = next(p for p in hourly["periods"] if p["period"] == period)
        assert await page.text_content("#window") == f"{opened['from']} to {opened['to']}"
        line_oee = opened["lines"]["plant1/assembly/line2"]["oee"]
        assert await page.text_content("#kpis .tile b") == f"{line_oee * 100:.1f} %"

        # The copied address shows the same view in a new page.
        url = page.url
        title, rows = (
            await page.text_content("#title"),
            await page.locator("#children tbody tr").count(),
        )
        other = await page.context.browser.new_page()
        await other.goto(url)
        await settled(other)
        assert await other.text_content("#title") == title
        assert await other.text_content("#window") == f"{opened['from']} to {opened['to']}"
        assert await other.locator("#children tbody tr").count() == rows
        assert await other.text_content("#kpis .tile b") == f"{line_oee * 100:.1f} %"
    assert problems == [], problems


async def test_the_live_view_has_every_answer_of_the_overview_ready(
    small_store: tuple[Fleet, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refresher makes what the overview asks for (the report, its hours, the previous
    window without the detector, the stops) before the window becomes the live one: a page
    that loads computes nothing, however long after; the plain report is the report of the
    window."""
    from analytics.oee.accounts import Window
    from analytics.report.build import compute_report
    from dashboard import cache
    from dashboard.cache import ROOT, Dashboard
    from dashboard.config import ServeConfig
    from factory_cli.settings import Settings
    from tests.helpers.fleets import assert_same, without_sources

    fleet, db = small_store
    settings = Settings(
        store_url=f"sqlite:///{db}",  # type: ignore[arg-type]
        serve=ServeConfig(users_db=str(db.parent / "users.db")),
    )
    dash = Dashboard(settings, plant=fleet.plant, fixed=(fleet.start_ms, fleet.end_ms))
    await dash.refresh_live()
    window = Window(fleet.start_ms, fleet.end_ms)
    expected, _ = await compute_report(settings.store_url, window, plant=fleet.plant)

    def computing(*_: Any, **__: Any) -> Any:
        raise AssertionError("a page load computed a report")

    monkeypatch.setattr(cache, "compute_report", computing)
    dash.refresh_s = 0.0  # other kept reports are stale at once: the live ones stay live
    plain, _ = await dash.live_report(None, ROOT)
    got = without_sources(plain.as_json_dict())
    assert got.pop("generated_at")
    assert_same(without_sources(expected.as_json_dict()), got)
    hours, _ = await dash.compute(window, "hour", ROOT)
    assert len(hours.as_json_dict()["periods"]) == (window.end_ms - window.start_ms) // 3_600_000
    before = Window(2 * window.start_ms - window.end_ms, window.start_ms)
    await dash.compute(before, None, ROOT, anomalies=False)
    assert window in dash.stops
    # Other windows are still computed on request.
    with pytest.raises(AssertionError, match="computed"):
        await dash.compute(Window(window.start_ms, window.end_ms - 60_000), None, ROOT)
