"""Ingest scale-out: 1, 2 and 3 `factory ingest` processes on one shared subscription.

    python -m benchmarks.scaling [--machines 50] [--hours 4] [--processes 1,2,3]

Starts its own Mosquitto and InfluxDB (Debian's), then for each count of processes:
starts that many `factory ingest` processes in one ``$share`` group, publishes the same
simulated fleet as fast as the broker takes it (QoS 1, 100 readings per message), and
times until every reading is stored (sum of the processes' written counters). Prints
readings per second and each process's share; last line: one JSON object. Every
process, the broker, InfluxDB and the publisher share this machine's cores, which is
what the figures measure: see docs/scaling.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path

from simulators import Fleet, FleetConfig
from tests.helpers.load import Load
from tests.helpers.servers import (
    free_port,
    influxd,
    ingest_process,
    metrics,
    mosquitto,
    wait_healthy,
)


def run_once(
    mqtt_port: int, influx_port: int, tmp: Path, n: int, fleet: Fleet
) -> dict[str, object]:
    group = f"s{uuid.uuid4().hex[:6]}"
    db = f"scale_{group}"
    root = f"bench{group}"
    ports = [free_port() for _ in range(n)]
    procs = [
        ingest_process(
            mqtt_port,
            influx_port,
            db,
            root,
            tmp,
            client_id=f"ingest-{group}-{i}",
            metrics_port=port,
            share_group=group,
        )
        for i, port in enumerate(ports)
    ]
    try:
        for p, port in zip(procs, ports, strict=True):
            wait_healthy(port, p)
        load = Load(mqtt_port, root, fleet, readings_per_s=1e9)
        started = time.perf_counter()
        load.start()
        deadline = started + 600
        while True:
            written = [metrics(port)["factory_ingest_readings_written_total"] for port in ports]
            if sum(written) >= load.fleet.reading_count:
                break
            if time.perf_counter() > deadline:
                raise TimeoutError(f"only {sum(written):,.0f} readings stored")
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        load.join(60)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
    rate = fleet.reading_count / seconds
    shares = [round(w / sum(written), 3) for w in written]
    print(f"{n} process(es): {fleet.reading_count:,} readings in {seconds:.1f} s = "
          f"{rate:,.0f} readings/s, shares {shares}", flush=True)  # fmt: skip
    return {"processes": n, "readings_per_s": round(rate), "seconds": round(seconds, 2),
            "shares": shares}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=50)
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--processes", default="1,2,3")
    args = parser.parse_args()
    counts = [int(x) for x in args.processes.split(",")]
    fleet = Fleet(FleetConfig(machines=args.machines, lines=5, hours=args.hours, sensors=False))
    results = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        mosquitto(Path(tmp) / "mq") as mq,
        influxd(Path(tmp) / "influx") as ix,
    ):
        for n in counts:
            results.append(run_once(mq.port, ix.port, Path(tmp), n, fleet))
    base = results[0]["readings_per_s"]
    print(json.dumps({
        "readings": fleet.reading_count,
        "results": results,
        "speedup": [round(int(r["readings_per_s"]) / int(base), 2) for r in results],  # type: ignore[call-overload]
    }))  # fmt: skip


if __name__ == "__main__":
    main()
