"""A report from InfluxDB: 50 machines, 8 hours at 1 Hz (1.44 million telemetry and as many
meter readings), read with push-down queries and computed, timed end to end.

    python -m benchmarks.report [--machines 50] [--hours 8]

Starts its own InfluxDB (Debian's ``influxd``) in a temporary folder, fills it with
the simulator's readings at 1-second intervals through the ingest writer, then times
``analyse`` (read + compute) and the whole report (plus energy, anomalies, maturity),
and, in the same run, a naive read of every field (``SELECT *``) as the baseline.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

from analytics.oee.accounts import Window
from analytics.oee.analysis import analyse
from analytics.oee.anomaly import Detector
from analytics.oee.book import book_of
from analytics.report import build as summary
from benchmarks.fill import fill
from simulators import Fleet, FleetConfig
from store import parse_store_url
from store.influx_v1 import InfluxV1Reader


async def run(port: int, machines: int, hours: float) -> dict[str, float | int]:
    url = f"influxdb://127.0.0.1:{port}/bench"
    fleet = Fleet(FleetConfig(machines=machines, lines=5, hours=hours, interval_s=1.0, seed=3))
    t0 = time.perf_counter()
    written = await fill(url, fleet, per_write=20)
    filled = time.perf_counter() - t0
    print(f"{written:,} readings written in {filled:.1f} s", flush=True)
    endpoint = parse_store_url(url)
    reader = InfluxV1Reader(endpoint)
    window = Window(fleet.start_ms, fleet.end_ms)

    t0 = time.perf_counter()
    analysis = await analyse(reader, window)
    t_oee = time.perf_counter() - t0
    t0 = time.perf_counter()
    full = await analyse(reader, window, detector=Detector())
    report = summary.build(book_of(full))
    t_report = time.perf_counter() - t0
    # The baseline reads the same two measurements as the report, concurrently as the
    # report's reader does, every field, and nothing else.
    t0 = time.perf_counter()
    where = f"WHERE time >= {window.start_ms}ms AND time <= {window.end_ms}ms"
    tel, en = await asyncio.gather(
        reader._query(f"SELECT * FROM telemetry {where}"),
        reader._query(f"SELECT * FROM energy {where}"),
    )
    t_naive = time.perf_counter() - t0
    assert tel and en
    assert len(analysis.machines) == machines and report.oee.plant is not None
    return {
        "readings": written,
        "machines": machines,
        "hours": hours,
        "seconds_oee": round(t_oee, 2),
        "seconds_full_report": round(t_report, 2),
        "seconds_select_star_only": round(t_naive, 2),
        "fill_readings_per_s": round(written / filled),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=50)
    parser.add_argument("--hours", type=float, default=8.0)
    args = parser.parse_args()
    from tests.helpers.servers import influxd

    with tempfile.TemporaryDirectory() as tmp, influxd(Path(tmp) / "influx") as server:
        result = asyncio.run(run(server.port, args.machines, args.hours))
    print(
        f"report over {args.machines} machines x {args.hours:g} h at 1 Hz from InfluxDB: "
        f"OEE {result['seconds_oee']} s, full report {result['seconds_full_report']} s "
        f"(SELECT * alone: {result['seconds_select_star_only']} s)"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
