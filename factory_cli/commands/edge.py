"""`factory edge`: the edge agent, reading configured devices or the simulator."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import TYPE_CHECKING

from core.errors import ConfigError
from factory_cli.options import add_command, add_fleet, make_fleet, stderr_console
from factory_cli.runtime import at_least_info, call_when_set, run_until_stopped
from factory_cli.settings import Settings

if TYPE_CHECKING:
    from edge_agent.sources.base import Source
    from edge_agent.stats import AgentStats

NAME = "edge"


def add_parser(sub: object) -> argparse.ArgumentParser:
    p = add_command(
        sub,
        NAME,
        help="run the edge agent: configured devices, or the simulator",
        description=(
            "Read machines and meters and publish their readings with QoS 1 through the "
            "durable buffer. With [[edge.meters]] (Modbus), [[edge.machines]] (OPC UA), "
            "[[edge.modbus_machines]] or [[edge.s7_machines]] (PLC memory) in the "
            "configuration it reads those devices until stopped; otherwise it "
            "publishes a simulated fleet. SIGINT or SIGTERM stops it within "
            "FACTORY_EDGE__STOP_TIMEOUT_S, keeping what is buffered for the next start."
        ),
    )
    p.add_argument(
        "--source",
        choices=("auto", "devices", "simulator"),
        default="auto",
        help="auto (default): the configured devices if any, else the simulator",
    )
    add_fleet(p)
    p.add_argument(
        "--speedup", type=float, default=1.0, help="simulated time per real time (default 1)"
    )
    return p


def run(args: argparse.Namespace, settings: Settings) -> int:
    e = settings.edge
    devices = bool(e.meters or e.machines or e.modbus_machines or e.s7_machines)
    source: Source
    if args.source == "devices" or (args.source == "auto" and devices):
        if not devices:
            raise ConfigError(
                "--source devices: no devices configured; add [[edge.meters]], "
                "[[edge.machines]], [[edge.modbus_machines]] or [[edge.s7_machines]] to the "
                "configuration file (see docs/sources.md)"
            )
        from edge_agent.sources.device_source import DeviceSource

        source = DeviceSource(meters=e.meters, machines=e.machines,
                              plcs=(*e.modbus_machines, *e.s7_machines))  # fmt: skip
        what = "device readings"
        at_least_info()
    else:
        from edge_agent.sources.base import SimulatorSource

        fleet = make_fleet(args)
        source = SimulatorSource(fleet, speedup=args.speedup or None)
        what = f"{fleet.reading_count:,} readings"
    return _run_agent(source, settings, what)


def _run_agent(source: Source, settings: Settings, what: str) -> int:
    from edge_agent.agent import build_agent

    console = stderr_console()
    agent = build_agent(
        source, endpoint=settings.mqtt_url, config=settings.edge, root=settings.topic_root
    )
    console.print(
        f"publishing {what} to {settings.mqtt_url} "
        f"through the {settings.edge.buffer} buffer"
        + (f" at {settings.edge.buffer_path}" if settings.edge.buffer == "sqlite" else "")
    )
    started = time.monotonic()

    async def main(stop: asyncio.Event) -> AgentStats:
        watch = asyncio.create_task(call_when_set(stop, agent.stop), name="edge stop")
        try:
            return await agent.run()
        finally:
            watch.cancel()

    stats = run_until_stopped(main, deadline_s=settings.edge.stop_timeout_s)
    took = time.monotonic() - started
    console.print(
        f"read {stats.read:,}, acknowledged {stats.acknowledged:,} readings in "
        f"{stats.published_messages:,} messages, {took:.1f} s "
        f"({stats.acknowledged / max(took, 1e-9):,.0f} readings/s); "
        f"{stats.buffered_readings:,} readings kept in the buffer"
    )
    return 0
