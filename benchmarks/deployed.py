"""The plant as deployed, on one machine: the processes and settings of the recipes in
``deploy/`` (the systemd units), started as processes on loopback ports, and what a soak
needs around them: a network link that can be cut, a witness of every reading the broker
accepted, and the CPU and memory of each process.

- certificates from ``make-certs.sh``, users and ACL from ``factory acl`` (as shipped);
- Mosquitto on the shipped ``mosquitto-secure.conf`` (TLS, passwords, the ACL), InfluxDB;
- two ``factory ingest`` on the shared subscription (``factory-ingest@1``, ``@2``),
  ``factory aggregate``, ``factory serve`` with TLS and a users database;
- one ``factory edge`` gateway per gateway of the plant model, its own user and buffer.

Used by ``python -m benchmarks.plant`` and its short version in the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from factory_cli.pipeline import free_port
from tests.helpers.servers import (
    Server,
    factory_process,
    influx_query,
    start_influxd,
    start_mosquitto,
    start_profile,
)

DEPLOY = Path(__file__).parents[1] / "deploy"
DB = "factory"
TICK_S = os.sysconf("SC_CLK_TCK")


def proc_usage(pid: int) -> tuple[float, float] | None:
    """(CPU seconds, RSS in MB) of a live process, from /proc; None once it has gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICK_S
    rss = next((int(line.split()[1]) for line in status.splitlines()
                if line.startswith("VmRSS:")), 0)  # fmt: skip
    return cpu, rss / 1024


@dataclass
class Usage:
    """One service's samples across its restarts: CPU seconds and RSS over time."""

    cpu_done: float = 0.0
    """CPU seconds of the incarnations that have ended."""
    last: dict[int, float] = field(default_factory=dict)
    rss: list[tuple[float, int, float]] = field(default_factory=list)
    """(monotonic time, pid, RSS MB)."""

    def sample(self, pid: int | None, now: float) -> None:
        for old in [p for p in self.last if p != pid]:
            self.cpu_done += self.last.pop(old)
        got = proc_usage(pid) if pid else None
        if got is not None and pid is not None:
            self.last[pid] = got[0]
            self.rss.append((now, pid, got[1]))

    @property
    def cpu_s(self) -> float:
        return self.cpu_done + sum(self.last.values())


@dataclass
class Service:
    """A `factory` command run as its systemd unit runs it; restartable."""

    name: str
    args: list[str]
    env: dict[str, str]
    folder: Path
    proc: subprocess.Popen[bytes] | None = None
    usage: Usage = field(default_factory=Usage)

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = factory_process(self.args, self.env, self.folder / f"{self.name}.log")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def stop(self, timeout_s: float = 30) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def tail(self, lines: int = 5) -> str:
        log = self.folder / f"{self.name}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class Link:
    """A TCP path to the broker that one gateway's traffic crosses (its network): cut
    (connections dropped, new ones refused) and restored."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._open):
            w.transport.abort()
        self._open.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open |= {writer, up_w}

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            w.transport.abort()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))
        self._open -= {writer, up_w}


class Witness:
    """A persistent MQTT session of its own (the ingest user's read rights) that records
    every reading the broker delivered, by machine and channel: what was published,
    counted apart from ingest."""

    def __init__(self, port: int, user: str, password: str, ca: Path, root: str = "factory"):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.seen: dict[tuple[str, str], set[int]] = defaultdict(set)
        self._lock = threading.Lock()
        self.last_message = time.monotonic()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="soak-witness",
                        clean_session=False)  # fmt: skip
        c.username_pw_set(user, password)
        c.tls_set(ca_certs=str(ca))
        c.reconnect_delay_set(1, 2)
        c.on_connect = lambda cl, *_: cl.subscribe(f"{root}/v1/#", qos=1)
        c.on_message = self._on_message
        c.max_inflight_messages_set(1000)
        c.connect_async("127.0.0.1", port, keepalive=30)
        c.loop_start()
        self.client = c

    def _on_message(self, _c: object, _u: object, msg: object) -> None:
        parts = msg.topic.split("/")  # type: ignore[attr-defined]
        if len(parts) != 7 or parts[6] not in ("telemetry", "energy"):
            return
        doc = json.loads(msg.payload)  # type: ignore[attr-defined]
        with self._lock:
            seen = self.seen["/".join(parts[2:6]), parts[6]]
            for r in doc if isinstance(doc, list) else [doc]:
                seen.add(r["ts"])
            self.last_message = time.monotonic()

    def counts(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return {k: len(v) for k, v in self.seen.items()}

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def stored_counts(port: int, since_ms: int) -> dict[tuple[str, str], int]:
    """Readings in InfluxDB from ``since_ms`` on, by machine and channel."""
    out: dict[tuple[str, str], int] = {}
    for channel in ("telemetry", "energy"):
        q = (
            f'SELECT count("seq") FROM "{channel}" WHERE time >= {since_ms}ms '
            'GROUP BY "site","area","line","machine"'
        )
        for s in influx_query(port, DB, q):
            t = s["tags"]  # type: ignore[index]
            path = "/".join(t[k] for k in ("site", "area", "line", "machine"))  # type: ignore[index]
            out[path, channel] = int(s["values"][0][1])  # type: ignore[index]
    return out


@dataclass
class Plant:
    """The deployment: brokers, services and gateways of one plant model."""

    folder: Path
    plant_file: Path
    start_ms: int
    sim_hours: float
    speedup: float
    kpi_every_s: float = 60.0
    mosquitto: Server | None = None
    influx: Server | None = None
    services: dict[str, Service] = field(default_factory=dict)
    gateways: dict[str, Service] = field(default_factory=dict)
    links: dict[str, Link] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)
    serve_port: int = 0
    user: tuple[str, str] = ("engineer", "soak-engineer-password")
    servers: dict[str, Usage] = field(
        default_factory=lambda: {"mosquitto": Usage(), "influxd": Usage()}
    )

    @property
    def certs(self) -> Path:
        return self.folder / "certs"

    def start(self) -> None:
        """Certificates, users, brokers and services, in the order a plant brings them up
        (the gateways come with :meth:`start_gateways`)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(DEPLOY / "mosquitto" / "make-certs.sh"), str(self.certs),
                        "localhost", "127.0.0.1"], check=True, capture_output=True)  # fmt: skip
        subprocess.run([sys.executable, "-m", "factory_cli.main", "acl", "--plant",
                        str(self.plant_file), "--out", str(self.folder / "factory")],
                       check=True, capture_output=True)  # fmt: skip
        creds = tomllib.loads((self.folder / "factory" / "credentials.toml").read_text())
        self.users = creds["users"]
        self.mosquitto = start_profile(DEPLOY / "mosquitto" / "mosquitto-secure.conf",
                                       self.folder, self.certs)  # fmt: skip
        if self.influx is None:  # (already started to store history)
            self.influx = start_influxd(self.folder / "influxdb")
        mqtt = self.mosquitto.port
        store = f"influxdb://127.0.0.1:{self.influx.port}/{DB}"
        ca = str(self.certs / "ca.crt")
        base = {"FACTORY_LOG_FORMAT": "json", "FACTORY_STORE_URL": store,
                "FACTORY_PLANT": str(self.plant_file)}  # fmt: skip
        ingest_url = f"mqtts://factory-ingest:{self.users['factory-ingest']}@127.0.0.1:{mqtt}"
        for n in (1, 2):  # factory-ingest@1, @2
            self.services[f"ingest-{n}"] = Service(f"ingest-{n}", ["ingest"], {
                **base, "FACTORY_MQTT_URL": ingest_url, "FACTORY_INGEST__CA_FILE": ca,
                "FACTORY_INGEST__CLIENT_ID": f"factory-ingest-{n}",
                "FACTORY_INGEST__SHARE_GROUP": "ingest",
                "FACTORY_INGEST__METRICS_PORT": str(free_port())},
                self.folder / f"ingest-{n}")  # fmt: skip
        self.services["aggregate"] = Service("aggregate", ["aggregate"], {
            **base, "FACTORY_ANALYTICS__METRICS_PORT": str(free_port()),
            "FACTORY_ANALYTICS__KPI_EVERY_S": f"{self.kpi_every_s:g}"},
            self.folder / "aggregate")  # fmt: skip
        self.serve_port = free_port()
        serve_env = {**base, "FACTORY_SERVE__USERS_DB": str(self.folder / "serve" / "users.db"),
                     "FACTORY_SERVE__TLS_CERT": str(self.certs / "server.crt"),
                     "FACTORY_SERVE__TLS_KEY": str(self.certs / "server.key")}  # fmt: skip
        (self.folder / "serve").mkdir(exist_ok=True)
        subprocess.run([sys.executable, "-m", "factory_cli.main", "users", "add", self.user[0],
                        "--role", "viewer", "--password-stdin"], input=self.user[1].encode(),
                       env={**os.environ, **serve_env}, check=True,
                       capture_output=True)  # fmt: skip
        self.services["serve"] = Service(
            "serve", ["serve", "--host", "127.0.0.1", "--port", str(self.serve_port)],
            serve_env, self.folder / "serve")  # fmt: skip
        for s in self.services.values():
            s.start()

    async def start_gateways(self, cut: str | None = None) -> None:
        """A gateway per gateway of the plant model; ``cut``: the one whose traffic
        crosses a :class:`Link`."""
        from plant.model import load_plant

        assert self.mosquitto is not None
        mqtt, ca = self.mosquitto.port, str(self.certs / "ca.crt")
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.start_ms / 1000))
        for gw in load_plant(self.plant_file).gateway_plan():
            port = mqtt
            if gw.name == cut:
                link = self.links[gw.name] = Link(mqtt)
                await link.up()
                port = link.port
            args = ["edge", "--source", "simulator", "--plant", str(self.plant_file),
                    "--start", iso, "--hours", f"{self.sim_hours:g}",
                    "--speedup", f"{self.speedup:g}"]  # fmt: skip
            for line in gw.lines:
                args += ["--line", line]
            self.gateways[gw.name] = Service(gw.name, args, {
                "FACTORY_MQTT_URL": f"mqtts://{gw.name}:{self.users[gw.name]}@127.0.0.1:{port}",
                "FACTORY_EDGE__CLIENT_ID": gw.name, "FACTORY_EDGE__CA_FILE": ca,
                "FACTORY_EDGE__BUFFER_PATH": str(self.folder / gw.name / "edge-buffer.db"),
                "FACTORY_LOG_FORMAT": "json"}, self.folder / gw.name)  # fmt: skip
            self.gateways[gw.name].start()

    async def fill_history(self, hours: float) -> int:
        """The readings of the ``hours`` before the live start, written as ingest writes
        them (a plant that has been running; the aggregation has not seen them yet)."""
        from benchmarks.fill import fill
        from plant.model import load_plant
        from simulators import Fleet, FleetConfig

        assert self.influx is not None
        fleet = Fleet(FleetConfig(hours=hours, seed=7, start_ms=self.start_ms - int(
            hours * 3_600_000)), load_plant(self.plant_file))  # fmt: skip
        url = f"influxdb://127.0.0.1:{self.influx.port}/{DB}"
        return await fill(url, fleet, per_write=20)

    def sample(self) -> None:
        now = time.monotonic()
        for s in (*self.services.values(), *self.gateways.values()):
            s.usage.sample(s.pid, now)
        for name, server in (("mosquitto", self.mosquitto), ("influxd", self.influx)):
            alive = server is not None and server.process.poll() is None
            self.servers[name].sample(server.process.pid if alive else None, now)  # type: ignore[union-attr]

    def restart_mosquitto(self) -> None:
        assert self.mosquitto is not None
        old = self.mosquitto
        old.stop()
        self.mosquitto = start_mosquitto(old.folder, port=old.port,
                                         config=old.config.read_text().replace("{", "{{")
                                         .replace("}", "}}"))  # fmt: skip

    def stop_influx(self) -> None:
        assert self.influx is not None
        self.influx.stop()

    def start_influx(self) -> None:
        assert self.influx is not None
        self.influx = start_influxd(self.influx.folder, port=self.influx.port)

    def stop(self) -> None:
        for s in (*self.gateways.values(), *self.services.values()):
            s.stop()
        for server in (self.mosquitto, self.influx):
            if server is not None:
                server.stop()
