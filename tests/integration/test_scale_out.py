"""Several ingest processes, as the systemd template runs them: their own client ids, one
shared subscription, one view of what they rejected; a client id used twice is caught."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers import Server, free_port

pytestmark = pytest.mark.integration


def _ingest(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "factory_cli.main", "ingest"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=log.parent,
        )


def test_a_client_id_used_twice_is_a_configuration_error(
    mosquitto_server: Server, topic_root: str, tmp_path: Path
) -> None:
    procs = []
    for n in (1, 2):
        env = {
            "FACTORY_MQTT_URL": f"mqtt://127.0.0.1:{mosquitto_server.port}",
            "FACTORY_STORE_URL": f"sqlite:///{tmp_path / 't.db'}",
            "FACTORY_TOPIC_ROOT": topic_root,
            "FACTORY_INGEST__CLIENT_ID": f"same-{topic_root}",
        }
        procs.append((_ingest(env, tmp_path / f"ingest{n}.log"), tmp_path / f"ingest{n}.log"))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and all(p.poll() is None for p, _ in procs):
            time.sleep(0.1)
        exited = [(p, log) for p, log in procs if p.poll() is not None]
        logs = "\n".join(log.read_text()[-1500:] for _, log in procs)
        assert len(exited) == 1, f"expected one to stop: {logs}"
        proc, log = exited[0]
        assert proc.returncode == 2, logs
        text = log.read_text()
        assert f"another live process is using the client id 'same-{topic_root}'" in text
        assert "FACTORY_INGEST__CLIENT_ID" in text
        # The other one keeps its session from then on.
        survivor = next(p for p, _ in procs if p is not proc)
        time.sleep(3)  # a window in which a loop would have shown again
        assert survivor.poll() is None, logs
    finally:
        for p, _ in procs:
            if p.poll() is None:
                p.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(20)
            if p.poll() is None:
                p.kill()
    _ = free_port  # keeps the import for the tests below
