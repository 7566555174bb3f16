"""Edge agent throughput: through the durable buffer vs. in memory, to a real Mosquitto, QoS 1.

    python -m benchmarks.edge_agent [--machines 20] [--hours 24]

Both modes run in their own process (so that each has its own peak RSS), one
after the other, against the same Mosquitto, on the same simulated fleet. The
machine models are simulated before the timer starts (a real agent reads devices
instead); turning their state into readings, encoding them, buffering and
publishing are measured, as they are the agent's work. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM; ru_maxrss would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(mode: str, port: int, machines: int, hours: float) -> dict[str, float]:
    from edge_agent.agent import build_agent
    from edge_agent.config import EdgeConfig
    from edge_agent.source import SimulatorSource
    from simulators import Fleet, FleetConfig
    from telemetry.urls import parse_mqtt_url

    fleet = Fleet(FleetConfig(machines=machines, lines=max(1, machines // 10), hours=hours))
    with tempfile.TemporaryDirectory() as tmp:
        config = EdgeConfig(
            client_id=f"bench-{uuid.uuid4().hex[:8]}",
            buffer="sqlite" if mode == "durable" else "memory",
            buffer_path=Path(tmp) / "buffer.db",
            buffer_synchronous="FULL",
            buffer_max_bytes=2 * 1024**3,
            max_inflight=256,
        )
        agent = build_agent(
            SimulatorSource(fleet),
            endpoint=parse_mqtt_url(f"mqtt://127.0.0.1:{port}"),
            config=config,
            root=f"bench{uuid.uuid4().hex[:6]}",
        )
        started = time.perf_counter()
        stats = asyncio.run(agent.run())
        elapsed = time.perf_counter() - started
    assert stats.acknowledged == fleet.reading_count, "every reading must be acknowledged"
    return {
        "readings": stats.acknowledged,
        "seconds": elapsed,
        "readings_per_s": stats.acknowledged / elapsed,
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=20)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--mode", choices=("durable", "memory"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run_one(args.mode, args.port, args.machines, args.hours)))
        return

    from tests.servers import mosquitto

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, mosquitto(Path(tmp) / "broker") as broker:
        for mode in ("memory", "durable"):
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.edge_agent", "--mode", mode,
                 "--port", str(broker.port), "--machines", str(args.machines),
                 "--hours", str(args.hours)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
            r = results[mode]
            print(
                f"{mode:8s} {r['readings']:>9,.0f} readings in {r['seconds']:6.2f} s = "
                f"{r['readings_per_s']:>9,.0f} readings/s, peak RSS {r['peak_rss_mb']:.0f} MB"
            )
    durable, memory = results["durable"], results["memory"]
    summary = {
        "durable_readings_per_s": round(durable["readings_per_s"]),
        "memory_readings_per_s": round(memory["readings_per_s"]),
        "durable_to_memory": round(durable["readings_per_s"] / memory["readings_per_s"], 3),
        "peak_rss_mb": round(max(durable["peak_rss_mb"], memory["peak_rss_mb"]), 1),
        "readings": int(durable["readings"]),
        "machines": args.machines,
        "hours": args.hours,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
