"""A month's report: from every raw reading, and from the stored period accounts.

    python -m benchmarks.long_window [--machines 100] [--days 30]

Starts its own InfluxDB (Debian's ``influxd``) in a temporary folder and fills it with
the simulator's plant (a reading every 60 s, and one at every state change, at its
exact time; meters, vibration sensors) through the store writer that ingest uses (so
the change marks are written too). Then, in the same run:

- the aggregation (``factory aggregate``'s pass) computes and stores every hour and day
  account: ``aggregation_readings_per_s`` is readings stored / its wall time;
- the month's full report (OEE, losses, energy, anomalies, maturity) from raw readings
  (``seconds_raw``) and from the stored accounts (``seconds_accounts``); ``equal`` is
  true when both reports agree (floats to 1e-9 relative);
- ``factory serve``'s answer to the dashboard's first request for that window
  (``/api/report``, uncached; ``dashboard_api_s``).

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import urllib.request
from pathlib import Path

from analytics.aggregation import Aggregator
from analytics.oee.accounts import Window
from analytics.report.build import compute_report
from benchmarks.fill import fill
from simulators import Fleet, FleetConfig
from store import parse_store_url

MIDNIGHT_UTC = 1_767_571_200_000  # 2026-01-05T00:00:00Z


def first_difference(a: object, b: object) -> str | None:
    from tests.helpers.fleets import assert_same, without_sources

    assert isinstance(a, dict) and isinstance(b, dict)
    try:
        assert_same(without_sources(a), without_sources(b))
    except AssertionError as exc:
        return str(exc).splitlines()[0]
    return None


def dashboard_seconds(url: str, window: Window, folder: Path) -> float:
    from tests.helpers.servers import _port_open, factory_process, free_port, wait_for

    port = free_port()
    # Anonymous reading, as on a loopback kiosk: the sign-in (#17) is not what is measured.
    env = {"FACTORY_STORE_URL": url, "FACTORY_SERVE__ANONYMOUS": "viewer",
           "FACTORY_SERVE__USERS_DB": str(folder / "users.db")}  # fmt: skip
    proc = factory_process(["serve", "--port", str(port)], env, folder / "serve.log")
    try:
        wait_for(lambda: _port_open(port), "factory serve", 30)
        iso = time.strftime
        frm = iso("%Y-%m-%dT%H:%M:%SZ", time.gmtime(window.start_ms / 1000))
        to = iso("%Y-%m-%dT%H:%M:%SZ", time.gmtime(window.end_ms / 1000))
        t0 = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=300) as resp:
            resp.read()
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/report?from={frm}&to={to}", timeout=600
        ) as resp:
            doc = json.loads(resp.read())
        took = time.perf_counter() - t0
        assert doc["oee"]["plant"] is not None
        return took
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def run(port: int, machines: int, days: int, folder: Path) -> dict[str, object]:
    url = f"influxdb://127.0.0.1:{port}/bench"
    fleet = Fleet(
        FleetConfig(machines=machines, lines=10, hours=24 * days, interval_s=60.0, seed=3,
                    start_ms=MIDNIGHT_UTC)
    )  # fmt: skip
    t0 = time.perf_counter()
    written = await fill(url, fleet, per_write=50)
    print(f"{written:,} readings written in {time.perf_counter() - t0:.1f} s", flush=True)
    endpoint = parse_store_url(url)
    window = Window(fleet.start_ms, fleet.end_ms)

    aggregator = Aggregator(endpoint, token=None, plant=None, period="hour", max_gap_s=60)
    t0 = time.perf_counter()
    hours = await aggregator.pass_once()
    t_agg = time.perf_counter() - t0
    print(f"aggregation: {hours} hours, {aggregator.stats.days} days in {t_agg:.1f} s", flush=True)

    t0 = time.perf_counter()
    raw, _ = await compute_report(endpoint, window, raw=True)
    t_raw = time.perf_counter() - t0
    print(f"report from raw readings: {t_raw:.1f} s", flush=True)
    t0 = time.perf_counter()
    stored, _ = await compute_report(endpoint, window)
    t_acc = time.perf_counter() - t0
    print(f"report from stored accounts: {t_acc:.2f} s ({stored.sources})", flush=True)
    diff = first_difference(raw.as_json_dict(), stored.as_json_dict())
    if diff:
        print(f"reports differ: {diff}", flush=True)
    t_dash = dashboard_seconds(url, window, folder)
    return {
        "machines": machines,
        "days": days,
        "readings": written,
        "seconds_raw": round(t_raw, 2),
        "seconds_accounts": round(t_acc, 3),
        "speedup": round(t_raw / t_acc, 1),
        "equal": diff is None,
        "sources": sorted({s.source for s in stored.sources}),
        "aggregation_seconds": round(t_agg, 1),
        "aggregation_readings_per_s": round(written / t_agg),
        "dashboard_api_s": round(t_dash, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    from tests.helpers.servers import influxd

    with tempfile.TemporaryDirectory() as tmp, influxd(Path(tmp) / "influx") as server:
        os.environ.pop("FACTORY_STORE_URL", None)
        result = asyncio.run(run(server.port, args.machines, args.days, Path(tmp)))
    print(
        f"{args.machines} machines x {args.days} days: report from raw readings "
        f"{result['seconds_raw']} s, from stored accounts {result['seconds_accounts']} s "
        f"({result['speedup']}x, equal: {result['equal']}); aggregation "
        f"{result['aggregation_readings_per_s']:,} readings/s"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
