"""Edge agent throughput: through the durable buffer vs. in memory, to a real Mosquitto, QoS 1.

    python -m benchmarks.edge_agent [--machines 20] [--hours 24] [--small-hours 0.25]

Two shapes of work, each through the durable buffer (SQLite, ``synchronous=FULL``) and in
memory, each run in its own process (so that each has its own peak RSS), one after the
other, against the same Mosquitto:

- large chunks: the simulated fleet (a reading every 5 s per machine) handed to the agent
  10 minutes of device time at a time (``durable_readings_per_s``,
  ``memory_readings_per_s``): what a backfill or a fast source gives;
- small chunks: the fleet sampled every second, handed to the agent one machine's readings
  of one second at a time (a telemetry and a meter reading: what a poller reading one
  device after the other gives), so every chunk is its own durable write
  (``small_durable_readings_per_s``, ``small_memory_readings_per_s``);
- catching up: the same small chunks buffered durably while the broker is away, then
  sent once it is back (``small_catch_up_readings_per_s``, from the connection to the
  last PUBACK): the agent joins a topic's small buffered messages into messages of up
  to ``batch_max_readings`` readings.

The machine models are simulated before the timer starts (a real agent reads devices
instead); turning their state into readings, encoding them, buffering and publishing are
measured, as they are the agent's work. Every reading must be acknowledged by the broker.
Last line: one JSON object.
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
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from edge_agent.sources.base import SimulatorSource


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM; ru_maxrss would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class OneMachineASecond(SimulatorSource):
    """The fleet one machine's readings of one second at a time (a chunk per machine)."""

    async def batches(self, resume: Any) -> AsyncIterator[list[Any]]:
        for _, groups in self._fleet.chunks(1000):
            by_machine: dict[Any, list[Any]] = {}
            for group in groups:
                by_machine.setdefault(group[0], []).append(group)
            for chunk in by_machine.values():
                await asyncio.sleep(0)
                yield chunk


async def catch_up(agent: Any, readings: int, port: int, tmp: Path) -> tuple[Any, float]:
    """Buffer everything while the broker is away, then time the drain once it is back."""
    from tests.helpers.servers import start_mosquitto

    task = asyncio.create_task(agent.run())
    deadline = time.monotonic() + 600
    while agent.stats.buffered_readings < readings:  # refreshed once a second
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError(f"buffered {agent.stats.buffered_readings} of {readings}")
        await asyncio.sleep(0.05)
    broker = await asyncio.to_thread(start_mosquitto, tmp / "broker", port=port)
    try:
        while not agent.stats.connected and not task.done():  # noqa: ASYNC110 (poll a flag)
            await asyncio.sleep(0.001)
        started = time.perf_counter()
        stats = await task
        return stats, time.perf_counter() - started
    finally:
        broker.stop()


def run_one(mode: str, port: int, machines: int, hours: float, small: bool) -> dict[str, float]:
    from edge_agent.agent import build_agent
    from edge_agent.config import EdgeConfig
    from simulators import Fleet, FleetConfig
    from telemetry.urls import parse_mqtt_url

    fleet = Fleet(
        FleetConfig(machines=machines, lines=max(1, machines // 10), hours=hours,
                    interval_s=1.0 if small else 5.0)
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        config = EdgeConfig(
            client_id=f"bench-{uuid.uuid4().hex[:8]}",
            buffer="memory" if mode == "memory" else "sqlite",
            buffer_path=Path(tmp) / "buffer.db",
            buffer_synchronous="FULL",
            buffer_max_bytes=2 * 1024**3,
            max_inflight=256,
            reconnect_max_s=1.0,
        )
        agent = build_agent(
            OneMachineASecond(fleet) if small else SimulatorSource(fleet),
            endpoint=parse_mqtt_url(f"mqtt://127.0.0.1:{port}"),
            config=config,
            root=f"bench{uuid.uuid4().hex[:6]}",
        )
        if mode == "catchup":
            stats, elapsed = asyncio.run(catch_up(agent, fleet.reading_count, port, Path(tmp)))
        else:
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
    parser.add_argument("--small-hours", type=float, default=0.25)
    parser.add_argument("--mode", choices=("durable", "memory", "catchup"), help=argparse.SUPPRESS)
    parser.add_argument("--small", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(run_one(args.mode, args.port, args.machines, args.hours, args.small)))
        return

    from tests.helpers.servers import free_port, mosquitto

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, mosquitto(Path(tmp) / "broker") as broker:
        for small, hours, mode in (
            (False, args.hours, "memory"), (False, args.hours, "durable"),
            (True, args.small_hours, "memory"), (True, args.small_hours, "durable"),
            (True, args.small_hours, "catchup"),
        ):  # fmt: skip
            port = free_port() if mode == "catchup" else broker.port
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.edge_agent", "--mode", mode,
                 "--port", str(port), "--machines", str(args.machines),
                 "--hours", str(hours), *(["--small"] if small else [])],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if out.returncode != 0:
                raise RuntimeError(f"{mode} failed:\n{out.stderr[-3000:]}")
            key = f"small_{mode}" if small else mode
            results[key] = r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{'small chunks' if small else '10-min chunks'}, {mode:8s} "
                f"{r['readings']:>9,.0f} readings in {r['seconds']:6.2f} s = "
                f"{r['readings_per_s']:>9,.0f} readings/s, peak RSS {r['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    durable, memory = results["durable"], results["memory"]
    small_durable, small_memory = results["small_durable"], results["small_memory"]
    summary = {
        "durable_readings_per_s": round(durable["readings_per_s"]),
        "memory_readings_per_s": round(memory["readings_per_s"]),
        "durable_to_memory": round(durable["readings_per_s"] / memory["readings_per_s"], 3),
        "small_durable_readings_per_s": round(small_durable["readings_per_s"]),
        "small_memory_readings_per_s": round(small_memory["readings_per_s"]),
        "small_durable_to_memory": round(
            small_durable["readings_per_s"] / small_memory["readings_per_s"], 3
        ),
        "small_catch_up_readings_per_s": round(results["small_catchup"]["readings_per_s"]),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in results.values()), 1),
        "readings": int(durable["readings"]),
        "small_readings": int(small_durable["readings"]),
        "machines": args.machines,
        "hours": args.hours,
        "small_hours": args.small_hours,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
