"""The dashboard at plant scale, measured in a real Chromium: the large example plant's overview.

    python -m benchmarks.dashboard [--plant deploy/plants/large.toml] [--hours 8] [--runs 3]

Fills an SQLite store with the plant's simulated readings (500 machines, 2 sites, 20 lines
in the large example) over ``--hours`` from Monday 2026-01-05 06:00 in the plant's zone,
starts `factory serve`'s server on it with that window as the live window (computed
before the port opens, as `factory serve` does), and opens the page in Debian's Chromium
(headless, driven by Playwright) ``--runs`` times, each in a fresh browser context:

- ``first_overview_ms``: from the start of the navigation to the plant's figures and its
  sites or lines drawn (the page's ``overview`` performance mark), median of the runs;
- ``complete_ms``: to the heatmap and the comparison with the previous window drawn too
  (each of those is a report of its own, computed on request, then cached for the
  server's refresh period: the first run pays for them, ``first_run_complete_ms``);
- ``api_report_ms``: the page's ``/api/report`` request (resource timing), median;
- ``report_bytes``: the size of that JSON answer.

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[1]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync"]  # fmt: skip
START_MS = 1_767_567_600_000  # 2026-01-05T06:00+07:00 (the large plant's zone), a Monday


async def measure(base: str, runs: int) -> list[dict[str, float]]:
    from playwright.async_api import async_playwright

    from tests.helpers.servers import require_binary

    chromium = require_binary("chromium", "chromium", "/usr/bin")
    out = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=FLAGS)
        for _ in range(runs):
            context = await browser.new_context(viewport={"width": 1400, "height": 900})
            page = await context.new_page()
            await page.goto(base + "/")
            await page.wait_for_selector("body[data-ready=true]", timeout=120_000)
            first = await page.evaluate("performance.getEntriesByName('overview')[0].startTime")
            started = time.monotonic()
            await page.wait_for_selector("body[data-complete=true]", timeout=600_000)
            complete = first + (time.monotonic() - started) * 1000
            api = await page.evaluate(
                "performance.getEntriesByType('resource').filter(e => "
                "e.name.includes('/api/report') && !e.name.includes('by=')"
                " && !e.name.includes('from='))"
                ".map(e => [e.responseEnd - e.startTime, e.encodedBodySize])[0]"
            )
            rows = await page.locator("#children tbody tr").count()
            out.append({"first_overview_ms": first, "complete_ms": complete,
                        "api_report_ms": api[0], "report_bytes": api[1], "rows": rows})  # fmt: skip
            print(f"overview drawn in {first:,.0f} ms ({rows} rows), complete in "
                  f"{complete:,.0f} ms; /api/report {api[0]:,.0f} ms, {api[1]:,} bytes",
                  flush=True)  # fmt: skip
            await context.close()
        await browser.close()
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks.fill import fill
    from dashboard.app import serve
    from dashboard.cache import Dashboard
    from dashboard.config import ServeConfig
    from factory_cli.settings import Settings
    from plant.model import load_plant
    from simulators import Fleet, FleetConfig
    from tests.helpers.servers import free_port

    plant = load_plant(args.plant)
    fleet = Fleet(FleetConfig(hours=args.hours, start_ms=START_MS), plant)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/t.db"
        started = time.perf_counter()
        readings = await fill(url, fleet, per_write=50)
        print(f"{len(fleet.paths)} machines, {args.hours:g} h: {readings:,} readings stored in "
              f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
        # Anonymous reading (a loopback kiosk): the sign-in (#17) is not what is measured.
        viewer = ServeConfig(anonymous="viewer", users_db=f"{tmp}/users.db")
        dash = Dashboard(Settings(store_url=url, serve=viewer), plant=plant,  # type: ignore[arg-type]
                         fixed=(fleet.start_ms, fleet.end_ms))  # fmt: skip
        port = free_port()
        ready = asyncio.Event()
        started = time.perf_counter()
        task = asyncio.create_task(serve(dash, "127.0.0.1", port, ready=ready))
        await asyncio.wait_for(ready.wait(), 1800)
        print(f"server ready (live window computed) in {time.perf_counter() - started:.1f} s")
        try:
            results = await measure(f"http://127.0.0.1:{port}", args.runs)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def median(key: str) -> float:
        return round(statistics.median(r[key] for r in results), 1)

    return {
        "machines": len(fleet.paths),
        "window_h": args.hours,
        "first_overview_ms": median("first_overview_ms"),
        "first_run_overview_ms": round(results[0]["first_overview_ms"], 1),
        "first_run_complete_ms": round(results[0]["complete_ms"], 1),
        "complete_ms": median("complete_ms"),
        "api_report_ms": median("api_report_ms"),
        "report_bytes": int(median("report_bytes")),
        "overview_rows": int(median("rows")),
        "readings": readings,
        "runs": args.runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plant", default=str(ROOT / "deploy" / "plants" / "large.toml"))
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
