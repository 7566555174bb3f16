"""Each role's extra, installed alone on a clean virtualenv, runs its commands.

The wheel of what the image copies (deploy/Dockerfile) goes into one fresh virtualenv per
role with only that role's extra (``[edge]``, ``[ingest]``, ``[analytics]``); ``pip check``
must pass. A package a role imports but does not declare, or one the image does not copy,
is then simply not there, and the command fails. The roles then work together as on a
plant: the edge role publishes a simulated fleet to Mosquitto, the ingest role stores it
in InfluxDB, the analytics role reports from it and writes the KPIs back.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.servers import Server, free_port, influx_query

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a virtualenv per role: ~40 s

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("edge", "ingest", "analytics")
START = "2026-01-05T06:00:00Z"
END = "2026-01-05T06:06:00Z"


def _run(args: list[str | Path], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        check=False,
        **kw,  # type: ignore[call-overload]
    )


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The ``bin`` folder of a clean virtualenv per role."""
    folder = tmp_path_factory.mktemp("roles")
    # Built from exactly what deploy/Dockerfile copies (so the image's wheel is the one
    # tested), copied: a build folder left in the checkout would carry modules that no
    # longer exist into the wheel.
    source = folder / "source"
    source.mkdir()
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    for copied in re.findall(r"^COPY (.+) \S+$", dockerfile, re.M):
        for item in copied.split():
            if (ROOT / item).is_dir():
                shutil.copytree(ROOT / item, source / item, ignore=shutil.ignore_patterns(
                    "__pycache__", "*.egg-info"))  # fmt: skip
            else:
                shutil.copy2(ROOT / item, source / item)
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                  folder / "dist", source], timeout=600)  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (folder / "dist").glob("*.whl")
    out = {}
    for role in ROLES:
        env = folder / role
        made = _run([sys.executable, "-m", "venv", env], timeout=120)
        assert made.returncode == 0, made.stderr
        pip = [env / "bin" / "python", "-m", "pip"]
        installed = _run([*pip, "install", "-q", f"{wheel}[{role}]"], timeout=900)
        assert installed.returncode == 0, f"[{role}]: {installed.stderr[-3000:]}"
        check = _run([*pip, "check"], timeout=120)
        assert check.returncode == 0, f"[{role}] pip check: {check.stdout}{check.stderr}"
        out[role] = env / "bin"
    yield out


def factory(
    venvs: dict[str, Path], role: str, *args: str, env: dict[str, str] | None = None,
    cwd: Path, timeout: float = 120,
) -> subprocess.CompletedProcess[str]:  # fmt: skip
    # Only the virtualenv's own packages: no PYTHONPATH, run outside the checkout.
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FACTORY_"))}
    return _run([venvs[role] / "factory", *args], env={**clean, **(env or {})}, cwd=cwd,
                timeout=timeout)  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_help_on_its_own(venvs: dict[str, Path], role: str, tmp_path: Path) -> None:
    # Every command, each in the role that runs it (the image has all of them).
    commands = {"edge": ["edge", "simulate"], "ingest": ["ingest", "deadletter"],
                "analytics": ["report", "forecast", "aggregate", "alerts", "serve", "users",
                              "acl", "demo"]}[role]  # fmt: skip
    assert factory(venvs, role, "--help", cwd=tmp_path).returncode == 0
    for command in commands:
        done = factory(venvs, role, command, "--help", cwd=tmp_path)
        assert done.returncode == 0, f"[{role}] factory {command} --help: {done.stderr[-3000:]}"


def test_the_roles_work_together(
    venvs: dict[str, Path],
    mosquitto_server: Server,
    influx_server: Server,
    topic_root: str,
    influx_db: str,
    tmp_path: Path,
) -> None:
    common = {
        "FACTORY_MQTT_URL": f"mqtt://127.0.0.1:{mosquitto_server.port}",
        "FACTORY_STORE_URL": f"influxdb://127.0.0.1:{influx_server.port}/{influx_db}",
        "FACTORY_TOPIC_ROOT": topic_root,
    }
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FACTORY_"))}
    ingest_env = {
        **clean,
        **common,
        "FACTORY_INGEST__CLIENT_ID": f"roles-{topic_root}",
        "FACTORY_INGEST__METRICS_PORT": str(free_port()),
    }
    log = tmp_path / "ingest.log"
    with open(log, "wb") as out:
        ingest = subprocess.Popen([venvs["ingest"] / "factory", "ingest", "--stats-every", "1"],
                                  env=ingest_env, stdout=out, stderr=subprocess.STDOUT,
                                  cwd=tmp_path)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "subscribed" not in log.read_text() and time.monotonic() < deadline:
            assert ingest.poll() is None, log.read_text()
            time.sleep(0.1)
        edge = factory(venvs, "edge", "edge", "--machines", "2", "--lines", "1",
                       "--start", START, "--hours", "0.1", "--speedup", "0",
                       env={**common, "FACTORY_EDGE__BUFFER_PATH": str(tmp_path / "buf.db")},
                       cwd=tmp_path)  # fmt: skip
        assert edge.returncode == 0, edge.stderr[-3000:]
        match = re.search(r"acknowledged ([0-9,]+) readings", edge.stderr)
        assert match, edge.stderr[-3000:]
        expected = int(match.group(1).replace(",", ""))
        assert expected >= 2 * 2 * 72  # 2 machines x 2 channels, a reading per 5 s for 6 min
        count = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                rows = influx_query(influx_server.port, influx_db,
                                    "SELECT count(seq) FROM telemetry, energy")  # fmt: skip
                count = sum(int(s["values"][0][1]) for s in rows)  # type: ignore[index]
            if count >= expected:
                break
            time.sleep(0.2)
        assert count == expected, f"{count} of {expected} stored: {log.read_text()[-3000:]}"
    finally:
        ingest.send_signal(signal.SIGTERM)
        code = ingest.wait(30)
    assert code == 0, log.read_text()[-3000:]

    report = factory(venvs, "analytics", "report", "--from", START, "--to", END,
                     "--format", "json", env=common, cwd=tmp_path)  # fmt: skip
    assert report.returncode == 0, report.stderr[-3000:]
    data = json.loads(report.stdout)
    assert len(data["oee"]["machines"]) == 2
    assert data["oee"]["plant"]["total_count"] > 0
    kpi = factory(venvs, "analytics", "aggregate", "--once", "--from", START, "--to", END,
                  env=common, cwd=tmp_path)  # fmt: skip
    assert kpi.returncode == 0, kpi.stderr[-3000:]
    assert "points for" in kpi.stdout and "hour(s)" in kpi.stdout
