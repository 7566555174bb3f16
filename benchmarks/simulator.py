"""Simulator throughput: readings generated and serialised to wire payloads, one core.

    python -m benchmarks.simulator [--plant deploy/plants/large.toml] [--hours 1]

Builds the fleet of the plant model (500 machines in the large example), then
generates every reading of the window and serialises it to the JSON payloads
the edge agent would publish (100 readings per message), through the same
``fleet_messages`` that `factory simulate` uses. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plant", default=str(ROOT / "deploy" / "plants" / "large.toml"))
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()

    from plant.model import load_plant
    from simulators import Fleet, FleetConfig
    from simulators.faults import Faults, fleet_messages

    plant = load_plant(args.plant)
    # Monday 2026-01-05 08:00 in the plant's zone for the large example: inside shift A.
    start_ms = 1_767_574_800_000
    started = time.perf_counter()
    fleet = Fleet(FleetConfig(hours=args.hours, start_ms=start_ms), plant)
    built = time.perf_counter()
    stream, injector = fleet_messages(fleet, Faults(), root="factory", batch=args.batch)
    payload_bytes = sum(len(topic) + len(payload) for topic, payload in stream)
    done = time.perf_counter()
    readings, messages = injector.report.readings, injector.report.messages
    rate = readings / (done - started)
    print(
        f"{len(fleet.paths)} machines, {args.hours:g} h: {readings:,} readings in {messages:,} "
        f"messages ({payload_bytes / 1e6:.1f} MB) in {done - started:.2f} s "
        f"(timeline {built - started:.2f} s) = {rate:,.0f} readings/s"
    )
    print(
        json.dumps(
            {
                "readings_per_s": round(rate),
                "readings": readings,
                "messages": messages,
                "machines": len(fleet.paths),
                "hours": args.hours,
                "seconds": round(done - started, 3),
                "timeline_seconds": round(built - started, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
