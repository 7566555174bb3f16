"""Every long-running command stops within its deadline whatever it is waiting for.

Each is started as `factory ...` (as systemd starts it), brought into an outage (no
broker, or a store that accepts connections and never answers), and sent SIGTERM.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.servers import Server, factory_process, free_port

pytestmark = pytest.mark.integration

DEADLINE_S = 3.0
"""The stop timeout the tests set where it is a setting (edge, ingest)."""
FIXED_DEADLINE_S = 10.0
"""`factory aggregate` and `factory serve` (factory_cli.runtime.READER_STOP_DEADLINE_S)."""


class BlackHole:
    """A TCP port that accepts connections and never answers: a hung server."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self._held.append(conn)
                self.accepted.set()

    def close(self) -> None:
        for c in self._held:
            c.close()
        self.sock.close()


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    yield hole
    hole.close()


def wait_until(check: object, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"exited early ({proc.returncode}): {log.read_text()[-2000:]}"
        with contextlib.suppress(Exception):
            if check():  # type: ignore[operator]
                return
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"{what} did not happen within 30 s: {log.read_text()[-2000:]}")


def stop_within(
    proc: subprocess.Popen[bytes], seconds: float, log: Path, *, clean: bool = False
) -> int:
    """SIGTERM; the exit status. It must exit within ``seconds`` (plus process start-up and
    shut-down); ``clean``: on its own, before the deadline had to cancel anything."""
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(seconds + 5)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(
            f"ignored SIGTERM for {seconds + 5} s: {log.read_text()[-2000:]}"
        ) from None
    took = time.monotonic() - sent
    assert took <= seconds + 2, f"took {took:.1f} s to stop: {log.read_text()[-2000:]}"
    if clean:
        assert "stopped at the deadline" not in log.read_text(), log.read_text()[-2000:]
        assert took < seconds, f"took {took:.1f} s to stop: {log.read_text()[-2000:]}"
    return code


def buffered(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        (n,) = conn.execute("SELECT count(*) FROM outbox").fetchone()
    return int(n)


def test_edge_without_a_broker_stops_and_keeps_its_buffer(tmp_path: Path) -> None:
    buffer = tmp_path / "edge-buffer.db"
    env = {
        "FACTORY_MQTT_URL": f"mqtt://127.0.0.1:{free_port()}",  # nothing listens there
        "FACTORY_EDGE__BUFFER_PATH": str(buffer),
        "FACTORY_EDGE__STOP_TIMEOUT_S": str(DEADLINE_S),
        # A long wait between attempts: the stop must cut it short.
        "FACTORY_EDGE__RECONNECT_INITIAL_S": "30",
        "FACTORY_EDGE__RECONNECT_MAX_S": "60",
        "FACTORY_LOG_LEVEL": "INFO",
    }
    log = tmp_path / "edge.log"
    proc = factory_process(
        ["edge", "--machines", "2", "--hours", "1", "--speedup", "120"], env, log
    )
    wait_until(lambda: buffered(buffer) > 0 and "reconnecting" in log.read_text(),
               "buffering while the broker is away", proc, log)  # fmt: skip
    held = buffered(buffer)
    assert stop_within(proc, DEADLINE_S, log, clean=True) == 0
    assert buffered(buffer) >= held > 0  # what was read is kept for the next start


def test_ingest_without_a_broker_stops(tmp_path: Path) -> None:
    env = {
        "FACTORY_MQTT_URL": f"mqtt://127.0.0.1:{free_port()}",
        "FACTORY_STORE_URL": f"sqlite:///{tmp_path / 't.db'}",
        "FACTORY_INGEST__STOP_TIMEOUT_S": str(DEADLINE_S),
        "FACTORY_INGEST__RETRY_INITIAL_S": "30",
        "FACTORY_INGEST__RETRY_MAX_S": "60",
    }
    log = tmp_path / "ingest.log"
    proc = factory_process(["ingest"], env, log)
    wait_until(lambda: "retrying in" in log.read_text(), "a failed connection", proc, log)
    assert stop_within(proc, DEADLINE_S + 5, log, clean=True) == 0


def test_ingest_with_a_hung_store_stops(
    tmp_path: Path, mosquitto_server: Server, black_hole: BlackHole
) -> None:
    env = {
        "FACTORY_MQTT_URL": f"mqtt://127.0.0.1:{mosquitto_server.port}",
        "FACTORY_STORE_URL": f"influxdb://127.0.0.1:{black_hole.port}/factory",
        "FACTORY_INGEST__STOP_TIMEOUT_S": str(DEADLINE_S),
        "FACTORY_INGEST__CLIENT_ID": f"stop-{free_port()}",
    }
    log = tmp_path / "ingest.log"
    proc = factory_process(["ingest"], env, log)
    wait_until(black_hole.accepted.is_set, "a connection to the store", proc, log)
    assert stop_within(proc, DEADLINE_S + 5, log) == 0


@pytest.mark.parametrize("command", [["aggregate"], ["serve", "--port", "0"]])
def test_reading_commands_with_a_hung_store_stop(
    tmp_path: Path, black_hole: BlackHole, command: list[str]
) -> None:
    env = {"FACTORY_STORE_URL": f"influxdb://127.0.0.1:{black_hole.port}/factory"}
    log = tmp_path / f"{command[0]}.log"
    proc = factory_process(command, env, log)
    wait_until(black_hole.accepted.is_set, "a query to the store", proc, log)
    code = stop_within(proc, FIXED_DEADLINE_S, log)
    assert code == 0, log.read_text()[-2000:]
    assert "stopped at the deadline" in log.read_text()
