"""Several ingest processes, as the systemd template runs them: their own client ids, one
shared subscription, one view of what they rejected; a client id used twice is caught."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from store import open_store, parse_store_url
from store.base import DeadLetter, letter_id
from tests.helpers.servers import Server, factory_process

pytestmark = pytest.mark.integration


def _stop(procs: Iterable[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(20)
        if p.poll() is None:
            p.kill()


def _first_to_stop(procs: list[tuple[subprocess.Popen[bytes], Path]]) -> tuple[int, str, str]:
    """Wait (60 s at most) for one of ``procs`` to exit: its status, its log, all logs."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and all(p.poll() is None for p, _ in procs):
        time.sleep(0.1)
    logs = "\n".join(log.read_text()[-1500:] for _, log in procs)
    exited = [(p, log) for p, log in procs if p.poll() is not None]
    assert exited, f"expected one to stop: {logs}"
    proc, log = exited[0]
    return int(proc.returncode), log.read_text(), logs


@pytest.mark.slow  # measured above 20 s
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
        log = tmp_path / f"ingest{n}.log"
        procs.append((factory_process(["ingest"], env, log), log))
    try:
        status, text, logs = _first_to_stop(procs)
        assert status == 2, logs
        assert f"another live process is using the client id 'same-{topic_root}'" in text
        assert "FACTORY_INGEST__CLIENT_ID" in text
        # The other one keeps its session from then on.
        time.sleep(3)  # a window in which a loop would have shown again
        assert [p.poll() for p, _ in procs].count(None) == 1, logs
    finally:
        _stop(p for p, _ in procs)


async def test_dead_letters_in_influxdb_keep_hostile_content_exactly(
    influx_server: Server, influx_db: str
) -> None:
    store = open_store(parse_store_url(f"influxdb://127.0.0.1:{influx_server.port}/{influx_db}"))
    await store.open()
    try:
        box = store.deadletters(source="ingest-a", max_payload_bytes=65_536)
        hostile = DeadLetter(
            topic='factory/v1/a\nb,c="d"/x y/telemetry',
            payload=bytes(range(256)) * 3,
            error='bad "quote"\nand a break',
        )
        big = DeadLetter(topic="factory/v1/p/a/l/m/telemetry", payload=b"x" * 100_000,
                         error="too big", stage="store")  # fmt: skip
        await box.add([hostile, big])
        await box.add([hostile])  # the same message again: kept once
        assert await box.count() == 2
        (got,) = await box.get([letter_id(hostile.topic, hostile.payload)])
        assert (got.topic, got.payload, got.error, got.source) == (
            hostile.topic, hostile.payload, hostile.error, "ingest-a")  # fmt: skip
        (cut,) = await box.get([letter_id(big.topic, big.payload)])
        assert cut.truncated and cut.payload_bytes == 100_000 and len(cut.payload) == 32_768
        assert cut.stage == "store"
        await box.set_error(got, "still bad")
        (again,) = await box.get([got.id or 0])
        assert again.error == "still bad" and again.payload == hostile.payload
        assert [d.id for d in await box.newest(1)] in ([got.id], [cut.id])
        await box.remove([got.id or 0])
        assert await box.ids() == [cut.id]
    finally:
        await store.close()


def test_two_gateways_with_one_client_id_is_a_configuration_error(
    mosquitto_server: Server, topic_root: str, tmp_path: Path
) -> None:
    procs = []
    for n in (1, 2):
        env = {
            "FACTORY_MQTT_URL": f"mqtt://127.0.0.1:{mosquitto_server.port}",
            "FACTORY_TOPIC_ROOT": topic_root,
            "FACTORY_EDGE__CLIENT_ID": f"gw-{topic_root}",
            "FACTORY_EDGE__BUFFER_PATH": str(tmp_path / f"buf{n}.db"),
        }
        log = tmp_path / f"edge{n}.log"
        args = ["edge", "--machines", "1", "--hours", "2", "--speedup", "60", "--seed", str(n)]
        procs.append((factory_process(args, env, log), log))
    try:
        status, text, logs = _first_to_stop(procs)
        assert status == 2, logs
        assert f"using the client id 'gw-{topic_root}'" in text
    finally:
        _stop(p for p, _ in procs)
