"""The edge agent against a real Mosquitto: outages, SIGKILL, a full buffer, TLS and passwords."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from edge_agent.agent import EdgeAgent, build_agent
from edge_agent.config import EdgeConfig
from edge_agent.errors import BrokerAuthError as AuthError
from edge_agent.sources.base import SimulatorSource
from simulators import Fleet, FleetConfig
from telemetry.urls import parse_mqtt_url
from tests.helpers.receiver import Receiver
from tests.helpers.servers import start_mosquitto, until

pytestmark = pytest.mark.integration


def agent_for(
    fleet: Fleet, url: str, root: str, tmp: Path, *, speedup: float | None = None, **edge: Any
) -> EdgeAgent:
    config = EdgeConfig(
        client_id=f"edge-{uuid.uuid4().hex[:8]}",
        buffer_path=tmp / "edge-buffer.db",
        buffer_synchronous="NORMAL",
        reconnect_initial_s=0.2,
        reconnect_max_s=1.0,
        publish_timeout_s=5.0,
        keepalive_s=5,
        **edge,
    )
    return build_agent(
        SimulatorSource(fleet, speedup=speedup),
        endpoint=parse_mqtt_url(url),
        config=config,
        root=root,
    )


@pytest.mark.slow  # measured above 20 s
async def test_broker_down_for_60_s_loses_nothing_and_keeps_order(
    tmp_path: Path, topic_root: str
) -> None:
    folder = tmp_path / "broker"
    broker = start_mosquitto(folder, persistence=True)
    rx = Receiver(broker.port, topic_root).start()
    fleet = Fleet(FleetConfig(machines=2, lines=1, hours=2, seed=4))
    agent = agent_for(
        fleet, f"mqtt://127.0.0.1:{broker.port}", topic_root, tmp_path, speedup=7200 / 80
    )
    task = asyncio.create_task(agent.run())
    try:
        await until(lambda: rx.distinct() > 500, "first readings", 30)
        broker.stop()
        outage_started = time.monotonic()
        read_before = agent.stats.read
        await asyncio.sleep(60)  # the scenario: a minute without a broker
        read_during_outage = agent.stats.read - read_before
        buffered_at_end = agent.stats.buffered_readings
        broker = start_mosquitto(folder, port=broker.port, persistence=True)
        assert time.monotonic() - outage_started >= 60
        await asyncio.wait_for(task, 120)
        rx.wait_for(fleet.reading_count, 30)
    finally:
        rx.stop()
        broker.stop()
    # The source kept being read while the broker was away, into the buffer.
    assert read_during_outage > 1000 and buffered_at_end > 1000
    assert rx.distinct() == fleet.reading_count, "every reading arrives"
    assert rx.first_arrivals_in_order(), "in seq order per device and channel"
    assert agent.stats.reconnects >= 1
    assert agent.stats.acknowledged >= fleet.reading_count
    print(
        f"outage: {fleet.reading_count} readings, duplicates {rx.total() - rx.distinct()}, "
        f"republished messages {agent.stats.republished_messages}, "
        f"reconnects {agent.stats.reconnects}"
    )


def test_sigkill_and_restart_lose_nothing(tmp_path: Path, topic_root: str) -> None:
    broker = start_mosquitto(tmp_path / "broker")
    rx = Receiver(broker.port, topic_root).start()
    start = "2026-01-05T08:00:00+00:00"
    fleet = Fleet(
        FleetConfig(
            machines=3,
            lines=1,
            hours=2,
            seed=8,
            start_ms=int(dt.datetime.fromisoformat(start).timestamp() * 1000),
        )
    )
    cmd = [
        sys.executable, "-m", "factory_cli.main", "edge",
        "--machines", "3", "--lines", "1", "--hours", "2", "--seed", "8",
        "--start", start, "--speedup", "1200",
    ]  # fmt: skip
    env = {
        **os.environ,
        "FACTORY_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}",
        "FACTORY_TOPIC_ROOT": topic_root,
        "FACTORY_EDGE__BUFFER_PATH": str(tmp_path / "edge-buffer.db"),
        "FACTORY_EDGE__CLIENT_ID": f"edge-{uuid.uuid4().hex[:8]}",
    }
    try:
        first = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while rx.distinct() < fleet.reading_count // 3:
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            assert time.monotonic() < deadline, "the agent did not start publishing"
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        before_restart = rx.distinct()
        assert before_restart < fleet.reading_count, "killed mid-run"
        second = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
        assert second.returncode == 0, second.stderr.decode()
        rx.wait_for(fleet.reading_count, 30)
    finally:
        rx.stop()
        broker.stop()
    assert rx.distinct() == fleet.reading_count
    assert rx.first_arrivals_in_order()
    print(
        f"sigkill: {fleet.reading_count} readings, {before_restart} before the kill, "
        f"duplicates {rx.total() - rx.distinct()}"
    )


@pytest.mark.parametrize("policy", ["drop_oldest", "reject_new"])
async def test_full_buffer_applies_the_policy_and_counts_exactly(
    tmp_path: Path, topic_root: str, policy: str
) -> None:
    folder = tmp_path / "broker"
    broker = start_mosquitto(folder, persistence=True)
    rx = Receiver(broker.port, topic_root).start()
    broker.stop()  # the outage starts before the agent does
    fleet = Fleet(FleetConfig(machines=2, lines=1, hours=2, seed=5))
    agent = agent_for(
        fleet,
        f"mqtt://127.0.0.1:{broker.port}",
        topic_root,
        tmp_path,
        buffer_max_bytes=150_000,
        buffer_policy=policy,
    )
    task = asyncio.create_task(agent.run())
    try:
        await until(lambda: agent.stats.read == fleet.reading_count, "source read", 30)
        # the counters are refreshed by the agent's housekeeping, once a second
        await until(lambda: agent.stats.dropped_readings > 0, "the buffer overflowing", 10)
        assert agent.stats.buffer_bytes <= 150_000
        broker = start_mosquitto(folder, port=broker.port, persistence=True)
        await asyncio.wait_for(task, 60)
        expected = fleet.reading_count - agent.stats.dropped_readings
        rx.wait_for(expected, 30)
        await asyncio.to_thread(rx.drain, 15)  # all the agent sent has arrived
    finally:
        rx.stop()
        broker.stop()
    assert rx.distinct() == expected, "received = read - dropped, exactly"
    assert agent.stats.acknowledged == expected
    for seqs in rx.arrivals.values():
        got = sorted(set(seqs))
        if policy == "drop_oldest":  # what survives is the newest, without holes
            assert got == list(range(got[0], got[-1] + 1))
        else:  # what survives is the oldest (a later, smaller message may still fit)
            assert got[0] == 0


def _make_certs(folder: Path) -> dict[str, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test plant CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return paths


TLS_CONF = """\
listener {port} 127.0.0.1
cafile {folder}/ca.pem
certfile {folder}/server.pem
keyfile {folder}/server.key
allow_anonymous false
password_file {folder}/passwd
user root
persistence false
log_dest stderr
log_type all
"""

PASSWORD = "s3cret-Pa55"


@pytest.fixture
def tls_broker(tmp_path: Path) -> Any:
    folder = tmp_path / "tls"
    _make_certs(folder)
    passwd = folder / "passwd"
    tool = "mosquitto_passwd"
    subprocess.run([tool, "-c", "-b", str(passwd), "edge", PASSWORD], check=True)
    server = start_mosquitto(folder, config=TLS_CONF)
    yield server
    server.stop()


async def test_tls_with_password_works(tls_broker: Any, tmp_path: Path, topic_root: str) -> None:
    fleet = Fleet(FleetConfig(machines=1, lines=1, hours=0.5, seed=1))
    agent = agent_for(
        fleet,
        f"mqtts://edge:{PASSWORD}@localhost:{tls_broker.port}",
        topic_root,
        tmp_path,
        ca_file=tls_broker.folder / "ca.pem",
    )
    stats = await asyncio.wait_for(agent.run(), 60)
    assert stats.acknowledged == fleet.reading_count


async def test_wrong_password_fails_clearly_without_a_retry_storm(
    tls_broker: Any, tmp_path: Path, topic_root: str, caplog: pytest.LogCaptureFixture
) -> None:
    fleet = Fleet(FleetConfig(machines=1, lines=1, hours=0.5, seed=1))
    agent = agent_for(
        fleet,
        f"mqtts://edge:wrong-{PASSWORD}@localhost:{tls_broker.port}",
        topic_root,
        tmp_path,
        ca_file=tls_broker.folder / "ca.pem",
    )
    started = time.monotonic()
    with pytest.raises(ExceptionGroup) as info:
        await asyncio.wait_for(agent.run(), 30)
    assert time.monotonic() - started < 10
    errors = info.value.subgroup(AuthError)
    assert errors is not None, info.value
    text = str(errors.exceptions[0])
    assert "refused" in text and "password" in text
    assert PASSWORD not in text and PASSWORD not in caplog.text
    log = (tls_broker.folder / "mosquitto.log").read_text()
    assert log.count("not authorised") == 1, "one attempt, no retry storm"


async def test_tls_with_an_unknown_ca_is_refused(
    tls_broker: Any, tmp_path: Path, topic_root: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The system CAs do not know the test CA: the handshake must fail on the certificate
    (not on a timeout or a closed port), be retried later, and nothing be published."""
    caplog.set_level(logging.WARNING, logger="edge_agent")
    fleet = Fleet(FleetConfig(machines=1, lines=1, hours=0.5, seed=1))
    agent = agent_for(
        fleet, f"mqtts://edge:{PASSWORD}@localhost:{tls_broker.port}", topic_root, tmp_path
    )
    task = asyncio.create_task(agent.run())
    try:
        await until(lambda: "CERTIFICATE_VERIFY_FAILED" in caplog.text, "a certificate refusal", 15)
        assert agent.stats.acknowledged == 0 and not agent.stats.connected
        refusal = next(r for r in caplog.records if "CERTIFICATE_VERIFY_FAILED" in r.message)
        assert "reconnecting in" in refusal.message
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_metrics_endpoint_reports_the_counters(
    mosquitto_server: Any, tmp_path: Path, topic_root: str
) -> None:
    import urllib.request

    fleet = Fleet(FleetConfig(machines=1, lines=1, hours=1, seed=2))
    agent = agent_for(
        fleet,
        f"mqtt://127.0.0.1:{mosquitto_server.port}",
        topic_root,
        tmp_path,
        speedup=3600 / 4,
        metrics_port=0,
    )
    task = asyncio.create_task(agent.run())
    await until(lambda: agent.metrics is not None and agent.stats.acknowledged > 0, "start", 10)
    assert agent.metrics is not None
    url = f"http://127.0.0.1:{agent.metrics.port}"

    def get(path: str) -> tuple[int, str]:
        with urllib.request.urlopen(url + path, timeout=5) as resp:
            return resp.status, resp.read().decode()

    status, text = await asyncio.to_thread(get, "/metrics")
    assert status == 200
    assert "# TYPE factory_edge_readings_acknowledged_total counter" in text
    assert "factory_edge_buffer_oldest_age_seconds{" in text
    assert (await asyncio.to_thread(get, "/healthz"))[0] == 200
    await asyncio.wait_for(task, 30)
