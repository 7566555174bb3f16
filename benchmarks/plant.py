"""The plant as it is deployed, live for hours, with faults: a soak.

    python -m benchmarks.plant [--plant deploy/plants/large.toml] [--hours 1] [--speedup 1]
                               [--warmup-min 10] [--reload-s 30] [--no-faults] [--keep DIR]

Brings up the deployment of :mod:`benchmarks.deployed` (the secure Mosquitto profile with the
ACL `factory acl` writes, InfluxDB, two `factory ingest` on the shared subscription,
`factory aggregate`, `factory serve` with TLS and a signed-in user, one `factory edge`
gateway per gateway of the plant model) and runs the plant live for ``--hours``: the
gateways simulate it from now (``--speedup`` > 1 runs simulated time faster, starting as
far back that it never passes the clock). A headless Chromium signs in and keeps the live
overview open, reloading it every ``--reload-s`` seconds as an engineer would.

Faults, at fractions of the run: Mosquitto restarted (0.25), InfluxDB stopped for 60 s
(0.40; at most 5 % of the run), one ingest SIGKILLed and restarted 5 s later as systemd
does (0.55), the first gateway's network cut for 10 minutes (0.65; at most 17 % of the
run), its backlog flushed late when it comes back.

When the gateways have sent everything, the readings a witness session saw the broker
deliver are counted against the store, machine by machine and channel by channel; once
the aggregation has caught up (a pass with no change mark open), the stored hour accounts
of the run (history included) are compared with the same report from raw readings.

Before the live start, ``--history-h`` hours of the plant's readings are stored (default 8:
a plant that has been running a shift, so the live window is full from the first view;
the aggregation finds them unaccounted, as on the first day of a deployment).

Figures (last line, one JSON object):

- ``readings_published`` (the witness's, distinct), ``readings_stored``, ``readings_lost``;
- ``rss_mb`` (first and last sample after the warm-up) and ``rss_growth_pct_per_h`` per
  process, ``cpu_share`` per process (CPU seconds per second of the run; gateways as one);
- ``overview_complete_ms_p50/p95`` (navigation to the overview, periods and comparison
  drawn), ``api_report_ms_p95`` (the live window's report), ``kpi_pass_s_p95``;
- ``accounts_equal_raw``: the report of the run's hours from stored accounts equals it
  from raw readings (``accounts_hours``: hours served from stored accounts).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.deployed import DB, Plant, Service, Witness, stored_counts
from tests.helpers.servers import _port_open, start_influxd, wait_for

ROOT = Path(__file__).parents[1]
FAULTS = (("mosquitto restarted", 0.25), ("influxdb stopped", 0.40),
          ("ingest-2 killed", 0.55), ("gateway offline", 0.65))  # fmt: skip


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def scrape(service: Service, var: str) -> dict[str, float]:
    from tests.helpers.servers import metrics

    try:
        return metrics(int(service.env[var]))
    except OSError:
        return {}


async def browse(base: str, user: tuple[str, str], stop: asyncio.Event, every_s: float,
                 cap_s: float, out: list[dict[str, Any]]) -> None:  # fmt: skip
    """Sign in, then open the overview every ``every_s`` seconds until ``stop``."""
    from playwright.async_api import TimeoutError as Late
    from playwright.async_api import async_playwright

    from benchmarks.dashboard import FLAGS
    from tests.helpers.servers import require_binary

    chromium = require_binary("chromium", "chromium", "/usr/bin")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=FLAGS)
        context = await browser.new_context(ignore_https_errors=True,
                                            viewport={"width": 1400, "height": 900})  # fmt: skip
        page = await context.new_page()
        await page.goto(base + "/login")
        await page.fill("#user", user[0])
        await page.fill("#password", user[1])
        await page.click("#submit")
        await page.wait_for_url(base + "/", timeout=60_000)
        while not stop.is_set():
            began = time.monotonic()
            sample: dict[str, Any] = {"at": time.time()}
            try:
                if out:
                    await page.reload(wait_until="commit", timeout=cap_s * 1000)
                await page.wait_for_selector("body[data-complete=true]", timeout=cap_s * 1000)
                sample["complete_ms"] = await page.evaluate("performance.now()")
                sample["api_ms"] = await page.evaluate(
                    "performance.getEntriesByType('resource').filter(e => "
                    "e.name.includes('/api/report') && !e.name.includes('by=') && "
                    "!e.name.includes('from=')).map(e => e.responseEnd - e.startTime)[0]"
                )
            except Late:
                sample["complete_ms"] = None
            sample["slowest"] = await page.evaluate(
                "performance.getEntriesByType('resource').filter(e => e.name.includes('/api/'))"
                ".map(e => [Math.round(e.responseEnd - e.startTime), "
                "e.name.split('/api/')[1].split('?')[0] + (e.name.includes('by=') ? ' by' : '')"
                " + (e.name.includes('anomalies=') ? ' before' : '')])"
                ".sort((a, b) => b[0] - a[0]).slice(0, 2)"
            )
            out.append(sample)
            print(f"overview: {sample['complete_ms'] or 'not complete'} ms, slowest "
                  f"{sample['slowest']}", flush=True)  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.5, every_s - (time.monotonic() - began)))
        await browser.close()


async def faults(plant: Plant, duration_s: float, cut: str, log: list[dict[str, Any]]) -> None:
    """The faults of the run, each at its moment."""
    t0 = time.monotonic()

    async def at(fraction: float) -> None:
        await asyncio.sleep(max(0.0, t0 + fraction * duration_s - time.monotonic()))

    def mark(what: str, **kw: Any) -> None:
        log.append({"fault": what, "at_s": round(time.monotonic() - t0, 1), **kw})
        print(f"fault: {what} {kw or ''}", flush=True)

    await at(FAULTS[0][1])
    mark("mosquitto restarted")
    await asyncio.to_thread(plant.restart_mosquitto)
    await at(FAULTS[1][1])
    away = min(60.0, 0.05 * duration_s)
    mark("influxdb stopped", for_s=round(away, 1))
    await asyncio.to_thread(plant.stop_influx)
    await asyncio.sleep(away)
    await asyncio.to_thread(plant.start_influx)
    await at(FAULTS[2][1])
    mark("ingest-2 killed")
    ingest = plant.services["ingest-2"]
    assert ingest.proc is not None
    ingest.proc.kill()
    await asyncio.sleep(5)  # RestartSec=5
    ingest.start()
    await at(FAULTS[3][1])
    offline = min(600.0, 0.17 * duration_s)
    mark("gateway offline", gateway=cut, for_s=round(offline, 1))
    await plant.links[cut].down()
    await asyncio.sleep(offline)
    await plant.links[cut].up()


def growth(samples: list[tuple[float, int, float]], after: float) -> tuple[float, float, float]:
    """(first MB, last MB, growth % per hour) of the last incarnation's samples after
    ``after`` (medians of the first and last three)."""
    pid = samples[-1][1]
    mine = [(t, mb) for t, p, mb in samples if p == pid and t >= after]
    if len(mine) < 6:
        return (samples[-1][2], samples[-1][2], 0.0)
    first = statistics.median(mb for _, mb in mine[:3])
    last = statistics.median(mb for _, mb in mine[-3:])
    hours = (mine[-1][0] - mine[0][0]) / 3600
    return round(first, 1), round(last, 1), round((last - first) / first / hours * 100, 2)


async def settle(plant: Plant, witness: Witness, timeout_s: float) -> dict[tuple[str, str], int]:
    """Wait until the store holds what the witness saw (or ``timeout_s``); the counts."""
    assert plant.influx is not None
    deadline = time.monotonic() + timeout_s
    while True:
        stored = await asyncio.to_thread(stored_counts, plant.influx.port, plant.start_ms)
        seen = witness.counts()
        if all(stored.get(k, 0) >= n for k, n in seen.items()) or time.monotonic() > deadline:
            return stored
        await asyncio.sleep(2)


async def compare_accounts(plant: Plant, start_ms: int, end_ms: int) -> tuple[bool, float, str]:
    """Whether the run's hours from stored accounts equal them from raw readings."""
    from analytics.oee.accounts import Window
    from analytics.report.build import build, compute_report
    from benchmarks.long_window import first_difference
    from core.clock import HOUR_MS
    from plant.model import load_plant
    from store import parse_store_url

    assert plant.influx is not None
    endpoint = parse_store_url(f"influxdb://127.0.0.1:{plant.influx.port}/{DB}")
    model = load_plant(plant.plant_file)
    window = Window(start_ms - start_ms % HOUR_MS, end_ms)
    _, raw_book = await compute_report(endpoint, window, plant=model, by="hour", raw=True)
    _, book = await compute_report(endpoint, window, plant=model, by="hour")
    now = int(time.time() * 1000)  # the same moment for both (the data's freshness)
    raw, got = (build(b, plant=model, now_ms=now) for b in (raw_book, book))
    hours = sum(
        (datetime.fromisoformat(s["to"]) - datetime.fromisoformat(s["from"])).total_seconds()
        / 3600 for s in got.as_json_dict()["sources"] if s["source"] == "accounts")  # fmt: skip
    diff = first_difference(raw.as_json_dict(), got.as_json_dict())
    return diff is None, round(hours, 2), diff or ""


async def run(args: argparse.Namespace) -> dict[str, Any]:
    duration_s = args.hours * 3600
    now_ms = int(time.time() * 1000)
    start_ms = now_ms - int((args.speedup - 1) * duration_s * 1000)
    start_ms -= start_ms % 1000
    folder = Path(args.keep or tempfile.mkdtemp(prefix="factory-soak-"))
    plant = Plant(folder, args.plant, start_ms, args.hours * args.speedup,
                  args.speedup, kpi_every_s=args.kpi_every_s)  # fmt: skip
    history = 0
    if args.history_h > 0:
        plant.influx = await asyncio.to_thread(start_influxd, folder / "influxdb")
        t = time.monotonic()
        history = await plant.fill_history(args.history_h)
        print(f"{history:,} readings of the {args.history_h:g} hours before stored in "
              f"{time.monotonic() - t:.0f} s", flush=True)  # fmt: skip
    await asyncio.to_thread(plant.start)
    samples: list[dict[str, Any]] = []
    fault_log: list[dict[str, Any]] = []
    passes: list[float] = []
    try:
        assert plant.mosquitto is not None
        witness = Witness(plant.mosquitto.port, "factory-ingest", plant.users["factory-ingest"],
                          plant.certs / "ca.crt")  # fmt: skip
        for name in ("ingest-1", "ingest-2"):
            await wait_healthy(plant.services[name])
        from plant.model import load_plant

        cut = load_plant(plant.plant_file).gateway_plan()[0].name
        await plant.start_gateways(cut=cut if args.faults else None)
        t0 = time.monotonic()
        print(f"{len(plant.gateways)} gateways publishing from {time.ctime(start_ms / 1000)}; "
              f"run of {duration_s:,.0f} s in {folder}", flush=True)  # fmt: skip
        stop = asyncio.Event()
        base = f"https://127.0.0.1:{plant.serve_port}"
        await asyncio.to_thread(wait_for, lambda: _port_open(plant.serve_port),
                                "factory serve", 300)  # fmt: skip
        tasks = [asyncio.create_task(browse(base, plant.user, stop, args.reload_s,
                                            max(60.0, args.reload_s * 2), samples))]  # fmt: skip
        if args.faults:
            tasks.append(asyncio.create_task(faults(plant, duration_s, cut, fault_log)))
        last_pass = 0.0
        while any(g.proc is not None and g.proc.poll() is None for g in plant.gateways.values()):
            plant.sample()
            m = await asyncio.to_thread(scrape, plant.services["aggregate"],
                                        "FACTORY_ANALYTICS__METRICS_PORT")  # fmt: skip
            if m.get("factory_aggregation_passes_total", 0) > last_pass:
                last_pass = m["factory_aggregation_passes_total"]
                passes.append(m["factory_aggregation_last_pass_seconds"])
            if time.monotonic() - t0 > duration_s + 1800:
                raise TimeoutError("the gateways did not finish within 30 minutes of the run")
            await asyncio.sleep(5)
        ran_s = time.monotonic() - t0
        end_ms = int(time.time() * 1000)
        stop.set()
        await asyncio.gather(*tasks)
        stored = await settle(plant, witness, 300)
        seen = witness.counts()
        # The aggregation has caught up when a pass that began after everything was stored
        # found no change mark still open (a mark stays open 30 s after its last reading).
        passed, pending = last_pass, 1.0
        while (last_pass <= passed or pending > 0) and time.monotonic() - t0 < ran_s + 600:
            await asyncio.sleep(2)
            m = await asyncio.to_thread(scrape, plant.services["aggregate"],
                                        "FACTORY_ANALYTICS__METRICS_PORT")  # fmt: skip
            last_pass = m.get("factory_aggregation_passes_total", last_pass)
            pending = m.get("factory_aggregation_pending_marks", pending)
        exited = [f"{n} ({s.proc.returncode})" for n, s in plant.services.items()
                  if s.proc is not None and s.proc.poll() is not None]  # fmt: skip
        first_ms = start_ms - int(args.history_h * 3_600_000)
        equal, hours, diff = await compare_accounts(plant, first_ms, min(end_ms, start_ms + int(
            args.hours * args.speedup * 3_600_000)))  # fmt: skip
        witness.close()
    finally:
        await asyncio.to_thread(plant.stop)
    lost = {f"{k[0]}/{k[1]}": n - stored.get(k, 0) for k, n in seen.items() if n > stored.get(k, 0)}
    after = t0 + min(args.warmup_min * 60, 0.3 * ran_s)
    every = {**{n: s.usage for n, s in plant.services.items()}, **plant.servers}
    rss = {n: growth(u.rss, after) for n, u in every.items() if u.rss}
    edge = [growth(g.usage.rss, after) for g in plant.gateways.values() if g.usage.rss]
    cpu = {n: round(u.cpu_s / ran_s, 3) for n, u in every.items()}
    cpu["edge (all gateways)"] = round(sum(g.usage.cpu_s for g in plant.gateways.values())
                                       / ran_s, 3)  # fmt: skip
    done = [s["complete_ms"] for s in samples if s.get("complete_ms") is not None]
    acked = sum(gateway_acknowledged(g) for g in plant.gateways.values())
    return {
        "plant": args.plant.name, "hours": args.hours, "speedup": args.speedup,
        "history_readings": history, "gateways": len(plant.gateways),
        "machines": len({k[0] for k in seen}),
        "readings_published": sum(seen.values()), "readings_stored": sum(stored.values()),
        "readings_lost": sum(lost.values()), "lost_where": dict(list(lost.items())[:10]),
        "gateways_acknowledged": acked,
        "rss_mb": {n: [a, b] for n, (a, b, _) in rss.items()},
        "rss_growth_pct_per_h": {n: g for n, (_, _, g) in rss.items()},
        "edge_rss_growth_pct_per_h_max": max((g for _, _, g in edge), default=None),
        "cpu_share": cpu,
        "overview_loads": len(samples), "overview_incomplete": len(samples) - len(done),
        "slowest_requests": sorted(((r[0], r[1]) for s in samples for r in s.get("slowest", [])),
                                   reverse=True)[:5],
        "overview_complete_ms_p50": pct(done, 0.5), "overview_complete_ms_p95": pct(done, 0.95),
        "api_report_ms_p95": pct([s["api_ms"] for s in samples if s.get("api_ms")], 0.95),
        "kpi_passes": len(passes), "kpi_pass_s_p95": pct(passes, 0.95),
        "accounts_equal_raw": equal, "accounts_hours": hours, "accounts_difference": diff,
        "services_exited": exited, "faults": fault_log, "folder": str(folder),
    }  # fmt: skip


def gateway_acknowledged(gateway: Service) -> int:
    """Readings the broker acknowledged to a gateway (its last line as it exits)."""
    found = re.findall(r"acknowledged ([\d,]+) readings", gateway.tail(40))
    return int(found[-1].replace(",", "")) if found else 0


async def wait_healthy(service: Service, timeout_s: float = 60) -> None:
    from tests.helpers.servers import wait_healthy as healthy

    assert service.proc is not None
    port = int(service.env["FACTORY_INGEST__METRICS_PORT"])
    await asyncio.to_thread(healthy, port, service.proc, timeout_s)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--plant",
        type=lambda s: Path(s).resolve(),
        default=ROOT / "deploy" / "plants" / "large.toml",
    )
    p.add_argument("--hours", type=float, default=1.0, help="real hours of the run (default 1)")
    p.add_argument("--speedup", type=float, default=1.0,
                   help="simulated time per real time (default 1: live)")  # fmt: skip
    p.add_argument("--history-h", type=float, default=8.0,
                   help="hours of readings stored before the live start (default 8: the "
                   "live window full from the first view)")  # fmt: skip
    p.add_argument("--warmup-min", type=float, default=10.0,
                   help="minutes before memory growth is measured (default 10)")  # fmt: skip
    p.add_argument("--reload-s", type=float, default=30.0, help="overview reloads (default 30)")
    p.add_argument("--kpi-every-s", type=float, default=60.0,
                   help="FACTORY_ANALYTICS__KPI_EVERY_S (default 60, as shipped)")  # fmt: skip
    p.add_argument("--no-faults", dest="faults", action="store_false")
    p.add_argument("--keep", metavar="DIR", help="run in DIR and keep it (logs, stores)")
    return p


def main() -> None:
    result = asyncio.run(run(parser().parse_args()))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
