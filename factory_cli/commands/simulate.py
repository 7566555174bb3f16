"""`factory simulate`: a fleet's readings, published at a rate or written as JSON lines."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

from core.errors import ConfigError
from factory_cli.options import add_command, add_fleet, make_fleet, positive_int, stderr_console
from factory_cli.settings import Settings

NAME = "simulate"


def add_parser(sub: object) -> argparse.ArgumentParser:
    p = add_command(
        sub,
        NAME,
        help="generate a fleet's readings: publish them at a rate, or write them as JSON lines",
        description=(
            "Generate the readings of a simulated fleet (or of a plant model) and publish them "
            "to the broker (FACTORY_MQTT_URL) at an open-loop rate, or write them as JSON lines "
            "without a broker. Faults can be injected; every one is counted in the summary "
            "and in the truth file."
        ),
    )
    add_fleet(p)
    p.add_argument(
        "--output",
        metavar="PATH",
        help='write {"topic", "payload"} JSON lines to PATH ("-" for stdout) instead of publishing',
    )
    p.add_argument("--truth", metavar="PATH", help="write the ground truth (and faults) as JSON")
    p.add_argument(
        "--rate",
        default="max",
        help="readings per second, open loop (keeps its pace whatever the receiver does), "
        "or 'max' (default)",
    )
    p.add_argument("--batch", type=positive_int, default=100, help="readings per message")
    p.add_argument("--qos", type=int, choices=(0, 1), default=1)
    g = p.add_argument_group("fault injection (off by default)")
    g.add_argument("--malformed", type=float, default=0.0, help="fraction of malformed messages")
    g.add_argument("--duplicates", type=float, default=0.0, help="fraction sent twice")
    g.add_argument(
        "--out-of-order", type=float, default=0.0, help="fraction sent after the next one"
    )
    g.add_argument(
        "--clock-skew", type=float, default=0.0, metavar="SECONDS", help="one device's clock off"
    )
    g.add_argument("--counter-resets", type=int, default=0, help="PLC restarts (counters to 0)")
    g.add_argument("--gaps", type=int, default=0, help="devices falling silent")
    g.add_argument("--gap-seconds", type=float, default=600.0, help="length of each gap")
    g.add_argument(
        "--bursts",
        type=int,
        default=0,
        help="devices that hold their readings, then send the backlog at once",
    )
    g.add_argument("--burst-seconds", type=float, default=300.0, help="readings held by each burst")
    return p


def run(args: argparse.Namespace, settings: Settings) -> int:
    from simulators.faults import Faults, fleet_messages

    fleet = make_fleet(args)
    try:
        faults = Faults(
            malformed=args.malformed,
            duplicates=args.duplicates,
            out_of_order=args.out_of_order,
            clock_skew_s=args.clock_skew,
            counter_resets=args.counter_resets,
            gaps=args.gaps,
            gap_s=args.gap_seconds,
            bursts=args.bursts,
            burst_s=args.burst_seconds,
            seed=args.seed,
        )
        rate = None if str(args.rate) == "max" else float(args.rate)
        if rate is not None and rate <= 0:
            raise ValueError("--rate must be more than 0, or 'max'")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    messages, injector = fleet_messages(fleet, faults, root=settings.topic_root, batch=args.batch)
    console = stderr_console()
    if args.output:
        out = sys.stdout if args.output == "-" else open(args.output, "w")  # noqa: SIM115
        try:
            for topic, payload in messages:
                try:
                    text = payload.decode()
                    json.loads(text)
                    out.write(f'{{"topic":{json.dumps(topic)},"payload":{text}}}\n')
                except ValueError:
                    encoded = base64.b64encode(payload).decode()
                    out.write(json.dumps({"topic": topic, "payload_b64": encoded}) + "\n")
        finally:
            if out is not sys.stdout:
                out.close()
    else:
        from simulators.load import publish

        console.print(
            f"publishing {fleet.reading_count:,} readings to {settings.mqtt_url}, "
            f"rate {args.rate}, {args.batch} per message, QoS {args.qos}"
        )
        summary = publish(messages, settings.mqtt_url, rate=rate, qos=args.qos)
        console.print(
            f"sent {summary.messages:,} messages ({summary.readings:,} readings), "
            f"acknowledged {summary.acknowledged_messages:,}, in {summary.seconds:.1f} s: "
            f"{summary.achieved_readings_per_s:,.0f} readings/s"
        )
    report = injector.report.as_dict()
    if faults.any:
        console.print(f"faults injected: {json.dumps(report)}")
    if args.truth:
        truth = fleet.truth_report()
        truth["faults"] = report
        Path(args.truth).write_text(json.dumps(truth, indent=2))
    return 0
