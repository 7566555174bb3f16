"""Real Mosquitto and InfluxDB processes for the integration tests, on free loopback ports."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from factory_cli.pipeline import free_port


def find_binary(name: str, *extra_dirs: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for d in extra_dirs:
        candidate = Path(d) / name
        if candidate.exists():
            return str(candidate)
    return None


def require_binary(name: str, package: str, *extra_dirs: str) -> str:
    """The binary's path; without it, fail under CI=true and skip elsewhere."""
    path = find_binary(name, *extra_dirs)
    if path is None:
        message = f"{name} not found: apt-get install {package} (make test does this as root)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def wait_for(check: object, what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():  # type: ignore[operator]
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not come up within {timeout_s} s")


async def until(predicate: Any, what: str, timeout_s: float = 20.0) -> None:
    """Wait for a condition, bounded, without blocking the event loop: a loaded machine
    slows a test instead of failing it."""
    import asyncio

    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout_s:g} s")
        await asyncio.sleep(0.02)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    folder: Path
    config: Path
    binary: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


MOSQUITTO_CONF = """\
listener {port} 127.0.0.1
allow_anonymous true
user root
persistence false
log_dest stderr
log_type error
log_type warning
max_inflight_messages 1000
max_queued_messages 1000000
max_queued_bytes 0
"""


def start_mosquitto(
    folder: Path, *, port: int | None = None, config: str | None = None, persistence: bool = False
) -> Server:
    """Start Mosquitto; ``config`` replaces the default listener block (``{port}`` is filled)."""
    binary = require_binary("mosquitto", "mosquitto", "/usr/sbin")
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    conf = folder / "mosquitto.conf"
    text = (config or MOSQUITTO_CONF).format(port=port, folder=folder)
    if persistence:
        text = text.replace("persistence false\n", "")
        text += f"persistence true\npersistence_location {folder}/\nautosave_interval 1\n"
    conf.write_text(text)
    log = open(folder / "mosquitto.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    server = Server(port, proc, folder, conf, binary)
    try:
        wait_for(lambda: _port_open(port), f"mosquitto on port {port}")
    except TimeoutError as exc:
        server.stop()
        log_text = (folder / "mosquitto.log").read_text()
        raise TimeoutError(f"mosquitto did not start: {log_text}") from exc
    return server


@contextlib.contextmanager
def mosquitto(folder: Path, **kw: object) -> Iterator[Server]:
    server = start_mosquitto(folder, **kw)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


INFLUXD_CONF = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{folder}/meta"
  logging-enabled = false

[data]
  dir = "{folder}/data"
  wal-dir = "{folder}/wal"
  query-log-enabled = false
  wal-fsync-delay = "0s"

[monitor]
  store-enabled = false

[http]
  bind-address = "127.0.0.1:{port}"
  log-enabled = false

[continuous_queries]
  enabled = false
"""


def _influx_ping(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=0.5) as resp:
        return bool(resp.status == 204)


def start_influxd(folder: Path, *, port: int | None = None) -> Server:
    """Start influxd with its meta, data and WAL folders in ``folder`` (reused on restart)."""
    binary = require_binary("influxd", "influxdb", "/usr/bin")
    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    conf = folder / "influxdb.conf"
    conf.write_text(INFLUXD_CONF.format(port=port, rpc_port=free_port(), folder=folder))
    log = open(folder / "influxd.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [binary, "run", "-config", str(conf)], stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    server = Server(port, proc, folder, conf, binary)
    try:
        wait_for(lambda: _influx_ping(port), f"influxd on port {port}", timeout_s=60)
    except TimeoutError:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def influxd(folder: Path) -> Iterator[Server]:
    server = start_influxd(folder)
    try:
        yield server
    finally:
        server.stop()


def influx_query(port: int, db: str, q: str) -> list[dict[str, object]]:
    """Series of an InfluxQL query (v1 API), epoch ms."""
    import json
    import urllib.parse

    url = f"http://127.0.0.1:{port}/query?" + urllib.parse.urlencode(
        {"db": db, "q": q, "epoch": "ms"}
    )
    with urllib.request.urlopen(url, timeout=30) as resp:
        doc = json.loads(resp.read())
    result = doc["results"][0]
    if "error" in result:
        raise RuntimeError(result["error"])
    series: list[dict[str, object]] = result.get("series", [])
    return series


def _vm_health(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=0.5) as resp:
        return bool(resp.status == 200)


@contextlib.contextmanager
def victoria_metrics(folder: Path) -> Iterator[Server]:
    """VictoriaMetrics, which accepts InfluxDB's ``/api/v2/write``: a real v2 write peer."""
    binary = require_binary("victoria-metrics", "victoria-metrics", "/usr/bin")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = open(folder / "vm.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            binary,
            f"-storageDataPath={folder}/data",
            f"-httpListenAddr=127.0.0.1:{port}",
            "-retentionPeriod=100y",
            "-search.latencyOffset=0s",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(port, proc, folder, folder, binary)
    try:
        wait_for(lambda: _vm_health(port), f"victoria-metrics on port {port}", timeout_s=30)
        yield server
    finally:
        server.stop()
        log.close()


# ---- `factory` processes (integration tests and benchmarks) ----


def factory_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`factory ARGS` as its own process (as systemd starts it), ``env`` over ours, its
    output appended to ``log``, in ``log``'s folder."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "factory_cli.main", *args],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=log.parent,
        )


def ingest_process(
    mqtt_port: int,
    influx_port: int,
    db: str,
    root: str,
    tmp: Path,
    *,
    client_id: str,
    metrics_port: int,
    share_group: str | None = None,
) -> subprocess.Popen[bytes]:
    env = {
        "FACTORY_MQTT_URL": f"mqtt://127.0.0.1:{mqtt_port}",
        "FACTORY_STORE_URL": f"influxdb://127.0.0.1:{influx_port}/{db}",
        "FACTORY_TOPIC_ROOT": root,
        "FACTORY_INGEST__CLIENT_ID": client_id,
        "FACTORY_INGEST__METRICS_PORT": str(metrics_port),
        "FACTORY_INGEST__MAX_PENDING_MESSAGES": "200",
        "FACTORY_INGEST__RETRY_MAX_S": "2",
    }
    if share_group:
        env["FACTORY_INGEST__SHARE_GROUP"] = share_group
    return factory_process(["ingest", "--stats-every", "1"], env, tmp / f"{client_id}.log")


def metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name.split("{")[0]] = float(value)
    return out


def wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "ingest exited"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError("ingest did not become healthy")


def start_profile(profile: Path, folder: Path, certs: Path) -> Server:
    """Start Mosquitto with a shipped profile (``deploy/mosquitto/mosquitto-*.conf``) as is,
    its paths moved to ``certs`` (make-certs.sh's output) and ``folder`` (``factory acl``'s
    output in ``folder/factory``, the persistence in ``folder/data``), listening on a free
    loopback port. Started as root, Debian's Mosquitto drops to its ``mosquitto`` user before
    it reads the key, the passwords and the ACL, as on a plant's server: the files must be
    readable by that user as make-certs.sh and ``factory acl`` leave them (the test folders
    are only made passable, and the persistence folder the broker's)."""
    port = free_port()
    data = folder / "data"
    data.mkdir(exist_ok=True)
    conf = (
        profile.read_text()
        .replace("/etc/mosquitto/certs/", f"{certs}/")
        .replace("/etc/mosquitto/factory/", f"{folder / 'factory'}/")
        .replace("/var/lib/mosquitto/", f"{data}/")
        .replace("listener 8883", f"listener {port} 127.0.0.1")
    )
    if os.geteuid() == 0:
        import pwd

        broker = pwd.getpwnam("mosquitto")
        os.chown(data, broker.pw_uid, broker.pw_gid)
        for place in (certs, folder / "factory"):
            for d in (place, *place.parents):
                if d == d.parent:
                    break
                os.chmod(d, os.stat(d).st_mode | 0o011)  # passable, not listable
    return start_mosquitto(folder, port=port, config=conf.replace("{", "{{").replace("}", "}}"))
