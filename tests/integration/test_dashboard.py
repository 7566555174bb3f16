"""`factory serve`: the API, its OpenAPI spec under schemathesis, and the dashboard in a real
headless Chromium (Debian's, driven by Playwright) against a store filled by the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from factory_cli.serve import Dashboard, serve
from factory_cli.settings import Settings
from simulators.fleet import Fleet, FleetConfig
from telemetry.plant import load_plant
from tests.servers import free_port, require_binary
from tests.unit.test_oee_truth import MIDNIGHT_VN, PLANTS, store_fleet

pytestmark = pytest.mark.integration

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]  # fmt: skip


@contextlib.asynccontextmanager
async def dashboard(fleet: Fleet, db: Path) -> AsyncIterator[str]:
    settings = Settings(store_url=f"sqlite:///{db}")  # type: ignore[arg-type]
    dash = Dashboard(settings, plant=fleet.plant, fixed=(fleet.start_ms, fleet.end_ms))
    port = free_port()
    ready = asyncio.Event()
    task = asyncio.create_task(serve(dash, "127.0.0.1", port, ready=ready))
    await asyncio.wait_for(ready.wait(), 120)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        return r.status, await r.json()


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Fleet, Path]:
    plant = load_plant(PLANTS / "small.toml")
    fleet = Fleet(FleetConfig(hours=16, start_ms=MIDNIGHT_VN + 5 * 3_600_000, seed=13), plant)
    db = tmp_path_factory.mktemp("dash") / "t.db"
    asyncio.run(store_fleet(fleet, db))
    return fleet, db


async def test_api_answers_and_refuses_clearly(small_store: tuple[Fleet, Path]) -> None:
    fleet, db = small_store
    async with dashboard(fleet, db) as base:
        status, report = await get(f"{base}/api/report")
        assert status == 200
        truth = fleet.truth_report()
        assert report["oee"]["plant"]["oee"] == pytest.approx(truth["plant"]["oee"], abs=1e-9)
        status, shifts = await get(f"{base}/api/report?by=shift&line=line1")
        assert status == 200 and [p["period"] for p in shifts["periods"]] == [
            "2026-01-05 morning", "2026-01-05 afternoon"]  # fmt: skip
        assert set(shifts["oee"]["machines"]) == {"plant1/assembly/line1/press01",
                                                  "plant1/assembly/line1/press02",
                                                  "plant1/assembly/line1/welder"}  # fmt: skip
        status, timeline = await get(f"{base}/api/timeline?machine=plant1/assembly/line2/cnc01")
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
            status, body = await get(base + url)
            assert status == code and words in body["error"], (url, body)


async def test_schemathesis_finds_no_failure(small_store: tuple[Fleet, Path]) -> None:
    fleet, db = small_store
    async with dashboard(fleet, db) as base:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "schemathesis.cli", "run", f"{base}/openapi.json",
            "--checks", "all", "--max-examples", "25", "--no-color",
            "--exclude-checks", "unsupported_method,positive_data_acceptance",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 300)
    text = out.decode()
    assert proc.returncode == 0, text[-4000:]


async def test_dashboard_in_chromium_shows_the_api_numbers(
    small_store: tuple[Fleet, Path], tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    chromium = require_binary("chromium", "chromium", "/usr/bin")
    fleet, db = small_store
    async with dashboard(fleet, db) as base, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = await browser.new_page(viewport={"width": 1400, "height": 1800})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        started = time.monotonic()
        await page.goto(base + "/")
        await page.wait_for_selector("body[data-ready=true]", timeout=20_000)
        shown_after = time.monotonic() - started
        await page.wait_for_selector("#gantt svg rect")
        cells = await page.eval_on_selector_all(
            "td[data-kpi]",
            "cs => cs.map(c => [c.dataset.key, c.dataset.kpi, c.dataset.value, c.textContent])",
        )
        await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        await browser.close()
        status, report = await get(f"{base}/api/report")
    assert status == 200
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
    assert problems == [], problems
    machines, lines = report["oee"]["machines"], report["oee"]["lines"]
    seen = {(key, kpi): (value, text) for key, kpi, value, text in cells}
    assert {k for k, _ in seen} == set(machines) | set(lines)
    for key, account in [*machines.items(), *lines.items()]:
        energy = (report["energy"]["machines"] | report["energy"]["lines"])[key]
        expected = {
            "oee": account["oee"], "availability": account["availability"],
            "performance": account["performance"], "quality": account["quality"],
            "kwh_per_good_unit": energy["kwh_per_good_unit"],
        }  # fmt: skip
        for kpi, value in expected.items():
            raw, text = seen[(key, kpi)]
            assert float(raw) == pytest.approx(value, rel=1e-12), (key, kpi)
            if kpi == "kwh_per_good_unit":
                assert text == f"{value:.4f}", (key, text)
            else:
                assert text.startswith(f"{value * 100:.1f} %"), (key, kpi, text)
    print(f"dashboard: numbers shown {shown_after:.2f} s after opening the page")
