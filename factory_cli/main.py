"""Entry point of the `factory` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from factory_cli.settings import ConfigError, Settings, load_settings

EPILOG = """\
configuration: environment variables FACTORY_* override the TOML file named by
--config or FACTORY_CONFIG; see deploy/factory.example.toml and docs/configuration.md.
  FACTORY_MQTT_URL    mqtt://[user:pass@]host:port (mqtts:// for TLS)
  FACTORY_STORE_URL   sqlite:///factory-data/telemetry.db or influxdb://host:8086/factory
"""


def _iso_ms(text: str) -> int:
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO time, e.g. 2026-01-05T06:00:00Z"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _fleet_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("simulated fleet")
    g.add_argument(
        "--plant",
        metavar="FILE",
        help="plant model (TOML, e.g. deploy/plants/small.toml): its machines and shift "
        "calendar; --machines and --lines are then ignored",
    )
    g.add_argument("--machines", type=_positive_int, default=6, help="machines (default 6)")
    g.add_argument(
        "--line",
        dest="only_line",
        action="append",
        metavar="SITE/AREA/LINE",
        help="only the machines (and main meter) of this line; repeatable (a gateway that "
        "serves some lines of the plant)",
    )
    g.add_argument("--lines", type=_positive_int, default=2, help="lines (default 2)")
    g.add_argument(
        "--hours", type=_positive_float, default=8.0, help="simulated hours (default 8, one shift)"
    )
    g.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    g.add_argument(
        "--start",
        type=_iso_ms,
        default=None,
        help="simulated start, ISO time (default: the whole hour HOURS before now)",
    )
    g.add_argument(
        "--interval",
        type=_positive_float,
        default=5.0,
        help="seconds between periodic readings; state changes are sent at once (default 5)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="factory",
        description="Smart-factory telemetry: simulate, collect, store and analyse OEE and energy.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="PATH", help="TOML configuration file")
    parser.add_argument("--version", action="version", version="%(prog)s 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "demo",
        help="run a simulated factory through the whole pipeline and print its KPIs",
        description=(
            "Simulate a fleet, publish it with the edge agent over MQTT (an embedded broker "
            "unless FACTORY_MQTT_URL is set), ingest it into the store (FACTORY_STORE_URL), "
            "and print OEE and energy per machine beside the simulator's ground truth."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _fleet_options(p)
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.add_argument(
        "--duration",
        type=float,
        default=20.0,
        help="wall-clock seconds to play the simulated hours in; 0 = as fast as possible "
        "(default 20)",
    )

    p = sub.add_parser(
        "simulate",
        help="generate a fleet's readings: publish them at a rate, or write them as JSON lines",
        description=(
            "Generate the readings of a simulated fleet (or of a plant model) and publish them "
            "to the broker (FACTORY_MQTT_URL) at an open-loop rate, or write them as JSON lines "
            "without a broker. Faults can be injected; every one is counted in the summary "
            "and in the truth file."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _fleet_options(p)
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
    p.add_argument("--batch", type=_positive_int, default=100, help="readings per message")
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

    p = sub.add_parser(
        "edge",
        help="run the edge agent: configured devices, or the simulator",
        description=(
            "Read machines and meters and publish their readings with QoS 1 through the "
            "durable buffer. With [[edge.meters]] (Modbus TCP) or [[edge.machines]] (OPC UA) "
            "in the configuration it reads those devices until stopped; otherwise it "
            "publishes a simulated fleet."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--source",
        choices=("auto", "devices", "simulator"),
        default="auto",
        help="auto (default): the configured devices if any, else the simulator",
    )
    _fleet_options(p)
    p.add_argument(
        "--speedup", type=float, default=1.0, help="simulated time per real time (default 1)"
    )

    p = sub.add_parser(
        "ingest",
        help="run the ingest service until stopped (SIGINT or SIGTERM)",
        description=(
            "Subscribe to the broker, validate every message, write readings to the store and "
            "acknowledge each message only after its readings are stored. Rejected messages "
            "are kept in the dead-letter store."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--stats-every", type=float, default=10.0, help="seconds between counter log lines"
    )

    p = sub.add_parser(
        "report",
        help="OEE with its losses, energy, anomalies and maturity from the store",
        description=(
            "Compute OEE after ISO 22400-2 with the six big losses, per site, area, line and "
            "machine (and per shift, day or hour with --by), energy performance indicators, "
            "anomaly events on process sensors and the Smart Factory 3.0-4.0 maturity, from "
            "the stored telemetry. With a plant model (--plant or FACTORY_PLANT) planned time "
            "comes from its shift calendar."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--from", dest="start", type=_iso_ms, help="window start (default: 24 h ago)")
    p.add_argument("--to", dest="end", type=_iso_ms, help="window end (default: now)")
    p.add_argument("--plant", metavar="FILE", help="plant model (default: FACTORY_PLANT)")
    p.add_argument("--by", choices=("shift", "day", "hour"), help="also per period")
    for level in ("site", "area", "line", "machine"):
        p.add_argument(f"--{level}", help=f"only this {level}")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also draw the OEE and energy-intensity trend (per --by period, hourly by "
        "default) and the loss Pareto",
    )
    p.add_argument(
        "--max-gap",
        type=_positive_float,
        default=None,
        help="seconds a reading stays valid; longer silences are 'no data' "
        "(default FACTORY_ANALYTICS__MAX_GAP_S, 60)",
    )
    p.add_argument(
        "--no-anomalies", action="store_true", help="skip reading sensors and anomaly detection"
    )

    p = sub.add_parser(
        "kpi",
        help="write computed KPIs to the store (table/measurement 'kpi') on a schedule",
        description=(
            "Compute OEE, its losses and energy per period (hour, shift or day) for every "
            "machine, line, area, site and the plant, and write them to the store as the "
            "'kpi' table (SQLite) or measurement (InfluxDB), so that dashboards chart them "
            "without recomputing. Runs every FACTORY_ANALYTICS__KPI_EVERY_S seconds, each time "
            "recomputing the current and the previous period (late data is taken in); "
            "--once does one pass, --from/--to backfills."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--from", dest="start", type=_iso_ms, help="with --once: backfill from")
    p.add_argument("--to", dest="end", type=_iso_ms, help="with --once: backfill to (default now)")
    p.add_argument(
        "--period", choices=("hour", "shift", "day"), help="default FACTORY_ANALYTICS__KPI_PERIOD"
    )
    p.add_argument("--plant", metavar="FILE", help="plant model (default: FACTORY_PLANT)")

    p = sub.add_parser(
        "acl",
        help="Mosquitto users, password hashes and ACL from the plant model",
        description=(
            "Write a Mosquitto ACL in which each edge gateway (the plant model's [[gateways]], "
            "or one per line) may publish only below its lines and subscribe to nothing, and "
            "the ingest user may read everything; a password file with PBKDF2-SHA512 hashes; "
            "and credentials.toml (mode 0600) with the clear passwords. Existing passwords "
            "in credentials.toml are kept. See docs/security.md."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--plant", metavar="FILE", help="plant model (default: FACTORY_PLANT)")
    p.add_argument("--out", metavar="DIR", default="deploy/mosquitto/generated",
                   help="where to write acl, passwords, credentials.toml "
                   "(default deploy/mosquitto/generated)")  # fmt: skip
    p.add_argument("--ingest-user", default="factory-ingest", help="default factory-ingest")

    p = sub.add_parser(
        "serve",
        help="the live dashboard and its JSON API (OpenAPI at /openapi.json)",
        description=(
            "Serve the dashboard (plant overview with OEE, A, P, Q per line and machine, a "
            "machine's state timeline, losses and their Pareto, energy, the maturity radar "
            "with its evidence) and the JSON API it draws from: /api/report, /api/timeline, "
            "/api/health, documented at /openapi.json. The report of the default window is "
            "computed at start and refreshed every --refresh seconds; the page updates "
            "itself. Address parameters ?from=&to=&by=&line= choose another view."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--plant", metavar="FILE", help="plant model (default: FACTORY_PLANT)")
    p.add_argument("--hours", type=_positive_float, default=8.0,
                   help="default window: the last HOURS (default 8)")  # fmt: skip
    p.add_argument("--from", dest="start", type=_iso_ms, help="a fixed default window: start")
    p.add_argument("--to", dest="end", type=_iso_ms, help="a fixed default window: end")
    p.add_argument(
        "--refresh",
        type=_positive_float,
        default=30.0,
        help="seconds between recomputations of the live report (default 30)",
    )

    p = sub.add_parser(
        "deadletter",
        help="list, show and re-ingest rejected messages",
        description=(
            "What the ingest service rejected and why. `list` (default) shows the newest; "
            "`show ID...` prints them in full; `reingest ID...` (or --all) decodes them again "
            "with the current code (after a fix of the schema or the device), writes those "
            "that now pass to the store and removes them."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", nargs="?", choices=("list", "show", "reingest"), default="list")
    p.add_argument("ids", nargs="*", type=_positive_int, metavar="ID")
    p.add_argument("--all", action="store_true", help="with reingest: every dead letter")
    p.add_argument("--limit", type=_positive_int, default=20, help="with list (default 20)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    return parser


def _fleet(args: argparse.Namespace) -> Any:
    from simulators import Fleet, FleetConfig
    from telemetry.plant import PlantModelError, load_plant

    plant = None
    if args.plant:
        try:
            plant = load_plant(args.plant)
        except PlantModelError as exc:
            raise ConfigError(str(exc)) from None

    start = args.start
    if start is None:
        hour = int(time.time() // 3600 * 3600)
        start = (hour - int(args.hours * 3600)) * 1000
    try:
        fleet = Fleet(
            FleetConfig(
                machines=args.machines,
                lines=min(args.lines, args.machines),
                hours=args.hours,
                seed=args.seed,
                start_ms=start,
                interval_s=args.interval,
            ),
            plant,
        )
        if args.only_line:
            fleet.keep_lines(args.only_line)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return fleet


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _stdout_console(width: int = 110) -> Any:
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=width)
    return console


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from factory_cli.demo import demo
    from factory_cli.render import print_table, to_json

    console = _stderr_console()
    fleet = _fleet(args)
    console.print(
        f"[bold]factory demo[/]: {len(fleet.paths)} machines, {args.hours:g} h simulated, "
        f"seed {args.seed}, {fleet.reading_count:,} readings -> {settings.store_url}"
    )
    result = asyncio.run(demo(settings, fleet, duration_s=args.duration or None, console=console))
    console.print(
        f"published {result.published:,} readings, stored {result.stored:,}, "
        f"rejected {result.rejected} messages, in {result.seconds:.1f} s"
    )
    if args.format == "json":
        print(to_json(result.kpis, result.truth))
    else:
        print_table(
            _stdout_console(), result.kpis, result.truth, title="OEE and energy: measured vs truth"
        )
    return 0


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from simulators.faults import Faults, fleet_messages

    fleet = _fleet(args)
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
    console = _stderr_console()
    if args.output:
        import base64

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


def _run_agent(fleet: Any, settings: Settings, *, speedup: float | None, source: Any = None) -> int:
    from edge_agent.agent import build_agent
    from edge_agent.source import SimulatorSource

    console = _stderr_console()
    if source is None:
        source = SimulatorSource(fleet, speedup=speedup)
    agent = build_agent(
        source,
        endpoint=settings.mqtt_url,
        config=settings.edge,
        root=settings.topic_root,
    )
    what = f"{fleet.reading_count:,} readings" if fleet is not None else "device readings"
    console.print(
        f"publishing {what} to {settings.mqtt_url} "
        f"through the {settings.edge.buffer} buffer"
        + (f" at {settings.edge.buffer_path}" if settings.edge.buffer == "sqlite" else "")
    )
    started = time.monotonic()

    async def run() -> Any:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, agent.stop)
        return await agent.run()

    stats = asyncio.run(run())
    took = time.monotonic() - started
    console.print(
        f"read {stats.read:,}, acknowledged {stats.acknowledged:,} readings in "
        f"{stats.published_messages:,} messages, {took:.1f} s "
        f"({stats.acknowledged / max(took, 1e-9):,.0f} readings/s)"
    )
    return 0


def cmd_edge(args: argparse.Namespace, settings: Settings) -> int:
    devices = bool(settings.edge.meters or settings.edge.machines)
    if args.source == "devices" or (args.source == "auto" and devices):
        if not devices:
            raise ConfigError(
                "--source devices: no devices configured; add [[edge.meters]] or "
                "[[edge.machines]] to the configuration file (see docs/sources.md)"
            )
        from edge_agent.device_source import DeviceSource

        source = DeviceSource(meters=settings.edge.meters, machines=settings.edge.machines)
        # A long-running service reports connections and counters.
        if logging.getLogger().level > logging.INFO:
            logging.getLogger().setLevel(logging.INFO)
        return _run_agent(None, settings, speedup=None, source=source)
    return _run_agent(_fleet(args), settings, speedup=args.speedup or None)


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.service import IngestService
    from store import open_store

    async def run() -> None:
        service = IngestService(
            endpoint=settings.mqtt_url,
            store=open_store(settings.store_url, token=settings.influx_token),
            config=settings.ingest,
            root=settings.topic_root,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, service.stop)
        log = logging.getLogger("factory.ingest")

        async def report() -> None:
            while True:
                await asyncio.sleep(args.stats_every)
                s = service.stats
                log.info(
                    "received=%d readings=%d written=%d rejected=%d retries=%d",
                    s.received_messages,
                    s.received_readings,
                    s.written_readings,
                    s.rejected_messages,
                    s.write_retries,
                )

        reporter = asyncio.create_task(report(), name="ingest stats log")
        try:
            await service.run()
        finally:
            reporter.cancel()

    # A long-running service reports its counters and connection events.
    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)
    print(
        f"ingest: {settings.mqtt_url} -> {settings.store_url} "
        f"(dead letters: {settings.ingest.deadletter_path})",
        file=sys.stderr,
    )
    asyncio.run(run())
    return 0


def _plant(path: str | None) -> Any:
    from telemetry.plant import PlantModelError, load_plant

    if not path:
        return None
    try:
        return load_plant(path)
    except PlantModelError as exc:
        raise ConfigError(str(exc)) from None


async def compute_analysis(
    settings: Settings,
    window: Any,
    *,
    plant: Any = None,
    by: str | None = None,
    max_gap_s: float | None = None,
    anomalies: bool = True,
    only: dict[str, str | None] | None = None,
) -> tuple[dict[str, Any], Any]:
    """The report's data and the analysis behind it (its machines' timelines)."""
    from analytics import summary
    from analytics.anomaly import Detector
    from analytics.report import analyse
    from store import open_reader

    cfg = settings.analytics
    analysis = await analyse(
        open_reader(settings.store_url, token=settings.influx_token),
        window,
        plant=plant,
        by=by,  # type: ignore[arg-type]
        max_gap_s=max_gap_s or cfg.max_gap_s,
        detector=Detector(z=cfg.anomaly_z) if anomalies else None,
    )
    if only:
        analysis.narrow(**only)
    return summary.build(analysis, plant=plant, grid_factor=cfg.grid_emission_factor), analysis


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.kpi import Window
    from factory_cli.render import print_report, report_csv

    end = args.end if args.end is not None else int(time.time() * 1000)
    start = args.start if args.start is not None else end - 24 * 3600 * 1000
    try:
        window = Window(start, end)
    except ValueError as exc:
        raise ConfigError(f"--from/--to: {exc}") from None
    plant = _plant(args.plant or settings.plant)
    if args.by == "shift" and plant is None:
        raise ConfigError("--by shift needs the plant model: --plant FILE or FACTORY_PLANT")
    only = {k: getattr(args, k) for k in ("site", "area", "line", "machine")}
    by = args.by or ("hour" if args.plot else None)
    report, _ = asyncio.run(
        compute_analysis(
            settings,
            window,
            plant=plant,
            by=by,
            max_gap_s=args.max_gap,
            anomalies=not args.no_anomalies,
            only=only,
        )
    )
    if not report["oee"]["machines"]:
        print(
            f"no telemetry in {settings.store_url} between "
            f"{datetime.fromtimestamp(start / 1000, UTC):%Y-%m-%d %H:%M} and "
            f"{datetime.fromtimestamp(end / 1000, UTC):%Y-%m-%d %H:%M} UTC"
            + (" for the chosen site/area/line/machine" if any(only.values()) else "")
            + "; choose another window with --from/--to",
            file=sys.stderr,
        )
        return 1
    if args.plot:
        from factory_cli.render import plot_report

        try:
            plot_report(report, args.plot)
        except ImportError:
            raise ConfigError(
                "--plot needs matplotlib: pip install 'smart-factory-telemetry[plot]'"
            ) from None
        print(f"plot written to {args.plot}", file=sys.stderr)
    if args.format == "json":
        text = json.dumps(report, indent=2)
    elif args.format == "csv":
        text = report_csv(report)
    else:
        text = ""
    if args.output:
        if args.format == "table":
            from rich.console import Console

            with open(args.output, "w") as fh:
                print_report(Console(file=fh, width=160, no_color=True), report)
        else:
            Path(args.output).write_text(text)
        print(f"report written to {args.output}", file=sys.stderr)
    elif args.format == "table":
        print_report(_stdout_console(width=160), report)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


async def write_kpis(
    settings: Settings, window: Any, *, plant: Any, period: str
) -> tuple[int, int]:
    """Compute the periods of ``window`` and write their points; (periods, points)."""
    from analytics.kpiwrite import kpi_points
    from analytics.report import analyse
    from store import open_reader, open_store

    analysis = await analyse(
        open_reader(settings.store_url, token=settings.influx_token),
        window,
        plant=plant,
        by=period,  # type: ignore[arg-type]
        max_gap_s=settings.analytics.max_gap_s,
    )
    points = kpi_points(analysis, period)
    store = open_store(settings.store_url, token=settings.influx_token)
    await store.open()
    try:
        written = await store.write_points(points)
    finally:
        await store.close()
    return len(analysis.periods), written


def cmd_kpi(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.kpi import Window
    from analytics.report import periods

    cfg = settings.analytics
    period = args.period or cfg.kpi_period
    plant = _plant(args.plant or settings.plant)
    if period == "shift" and plant is None:
        raise ConfigError("--period shift needs the plant model: --plant FILE or FACTORY_PLANT")
    log = logging.getLogger("factory.kpi")

    def window_now() -> Any:
        now = int(time.time() * 1000)
        # The current period and the one before it (two of its lengths back is enough for
        # hours and days; shifts come from the calendar).
        span = {"hour": 2 * 3_600_000, "day": 2 * 86_400_000, "shift": 2 * 86_400_000}[period]
        whole = periods(Window(now - span, now), period, plant)
        start = whole[-2].window.start_ms if len(whole) >= 2 else now - span
        return Window(start, now)

    if args.once:
        end = args.end if args.end is not None else int(time.time() * 1000)
        try:
            window = Window(args.start, end) if args.start is not None else window_now()
        except ValueError as exc:
            raise ConfigError(f"--from/--to: {exc}") from None
        n, written = asyncio.run(write_kpis(settings, window, plant=plant, period=period))
        print(f"{written:,} KPI points for {n} {period} period(s) written to {settings.store_url}")
        return 0

    async def loop() -> None:
        stop = asyncio.Event()
        running = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            running.add_signal_handler(sig, stop.set)
        while not stop.is_set():
            try:
                n, written = await write_kpis(settings, window_now(), plant=plant, period=period)
                log.info("wrote %d KPI points for %d %s period(s)", written, n, period)
            except Exception as exc:  # the store may be away: say so, try again next time
                log.error("KPI pass failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), cfg.kpi_every_s)

    logging.getLogger("factory").setLevel(logging.INFO)
    asyncio.run(loop())
    return 0


def cmd_acl(args: argparse.Namespace, settings: Settings) -> int:
    from factory_cli.acl import generate

    plant = _plant(args.plant or settings.plant)
    if plant is None:
        raise ConfigError("factory acl needs the plant model: --plant FILE or FACTORY_PLANT")
    try:
        out = generate(
            plant, Path(args.out), root=settings.topic_root, ingest_user=args.ingest_user
        )
    except OSError as exc:
        raise ConfigError(f"cannot write to {args.out}: {exc}") from None
    print(f"{len(out.users)} users ({len(out.new_users)} new) for plant {plant.name!r}:")
    print(f"  ACL            {out.acl}        -> mosquitto: acl_file")
    print(f"  password file  {out.passwords}  -> mosquitto: password_file")
    print(f"  credentials    {out.credentials} (mode 0600: the clear passwords; keep secret)")
    print("Reload Mosquitto to apply (kill -HUP, or systemctl reload mosquitto).")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from factory_cli.serve import Dashboard, run

    fixed = None
    if args.start is not None or args.end is not None:
        end = args.end if args.end is not None else int(time.time() * 1000)
        start = args.start if args.start is not None else end - int(args.hours * 3_600_000)
        if end <= start:
            raise ConfigError("--from/--to: the window must end after it starts")
        fixed = (start, end)
    dash = Dashboard(
        settings,
        plant=_plant(args.plant or settings.plant),
        hours=args.hours,
        fixed=fixed,
        refresh_s=args.refresh,
    )
    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)
    print(f"dashboard on http://{args.host}:{args.port}/ (computing the first report…)",
          file=sys.stderr)  # fmt: skip
    try:
        asyncio.run(run(dash, args.host, args.port))
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    return 0


def _letter_dict(d: Any) -> dict[str, Any]:
    return {
        "id": d.id,
        "received_ms": d.received_ms,
        "stage": d.stage,
        "topic": d.topic,
        "error": d.error,
        "payload": d.payload.decode("utf-8", "replace"),
        "payload_bytes": d.payload_bytes,
        "truncated": d.truncated,
    }


def cmd_deadletter(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.deadletter import DeadLetterStore

    path = settings.ingest.deadletter_path
    if not path.exists():
        print(f"no dead-letter store at {path}: nothing was rejected yet", file=sys.stderr)
        return 0
    store = DeadLetterStore(path)
    store.open_sync()
    try:
        if args.action == "reingest":
            return _reingest(args, settings, store)
        if args.action == "show":
            if not args.ids:
                raise ConfigError("deadletter show: name the ids to show, e.g. `show 3 4`")
            letters = store.get_sync(args.ids)
            missing = set(args.ids) - {d.id for d in letters}
            if missing:
                print(f"no dead letter with id {sorted(missing)}", file=sys.stderr)
            print(json.dumps([_letter_dict(d) for d in letters], indent=2))
            return 1 if missing else 0
        letters = store.list_sync(limit=args.limit)
        total = store.count_sync()
    finally:
        store.close()
    if args.format == "json":
        print(json.dumps([_letter_dict(d) for d in letters], indent=2))
        return 0
    print(f"{total} dead letter(s) in {path}; newest first:")
    for d in letters:
        when = datetime.fromtimestamp(d.received_ms / 1000, UTC).isoformat(timespec="seconds")
        print(f"#{d.id} {when} [{d.stage}] {d.topic}\n    {d.error}")
    return 0


def _reingest(args: argparse.Namespace, settings: Settings, store: Any) -> int:
    from ingest.deadletter import reingest
    from store import open_store

    ids = store.all_ids_sync() if args.all else args.ids
    if not ids:
        raise ConfigError("deadletter reingest: name the ids, or use --all")

    async def run() -> Any:
        writer = open_store(settings.store_url, token=settings.influx_token)
        await writer.open()
        try:
            return await reingest(
                store,
                ids,
                writer,
                root=settings.topic_root,
                max_payload_bytes=settings.ingest.max_payload_bytes,
                max_readings=settings.ingest.max_readings_per_message,
            )
        finally:
            await writer.close()

    result = asyncio.run(run())
    print(
        f"re-ingested {len(result.stored)} dead letter(s), {result.readings} readings, "
        f"into {settings.store_url}"
    )
    for letter_id, reason in result.still_bad:
        print(f"#{letter_id} still rejected: {reason}")
    for letter_id in result.truncated:
        print(
            f"#{letter_id} kept only in part (payload over the dead-letter limit); cannot re-ingest"
        )
    return 0 if not result.still_bad and not result.truncated else 1


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc)


def _setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)


COMMANDS = {
    "demo": cmd_demo,
    "simulate": cmd_simulate,
    "edge": cmd_edge,
    "ingest": cmd_ingest,
    "report": cmd_report,
    "kpi": cmd_kpi,
    "acl": cmd_acl,
    "serve": cmd_serve,
    "deadletter": cmd_deadletter,
}


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


EXIT_CONFIG = 2
"""A setting that cannot be used (the message names it)."""
EXIT_CREDENTIALS = 3
"""The broker refused our credentials: retrying cannot help (systemd: no restart)."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        _setup_logging(settings)
        return COMMANDS[args.command](args, settings)
    except ConfigError as exc:
        print(f"factory: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`factory simulate --output - | head`): not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        from edge_agent.errors import AuthError, EdgeError
        from ingest.errors import BrokerAuthError, IngestError
        from store.errors import ReaderError

        # The agent's errors come out of task groups: look inside them, at any depth.
        errors = _leaves(exc)
        kinds_and_status: tuple[tuple[tuple[type[BaseException], ...], int], ...] = (
            ((AuthError, BrokerAuthError), EXIT_CREDENTIALS),
            ((EdgeError, IngestError, ReaderError), 1),
        )
        for kinds, status in kinds_and_status:
            known = next((e for e in errors if isinstance(e, kinds)), None)
            if known is not None:
                print(f"factory: {known}", file=sys.stderr)
                return status
        raise


if __name__ == "__main__":
    sys.exit(main())
