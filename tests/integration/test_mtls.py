"""Mutual TLS to the broker: Mosquitto with `require_certificate true` (the profile
`deploy/mosquitto/mosquitto-mtls.conf` as shipped) lets in a gateway with its certificate
from the plant CA, refuses a client without one or with one from another CA, and applies
the ACL of `factory acl` per certificate; our edge agent and ingest service speak it."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from factory_cli.acl import broker_group, generate
from ingest.config import IngestConfig
from ingest.service import IngestService
from plant.model import load_plant
from store.sqlite import SQLiteStore
from telemetry.urls import parse_mqtt_url
from tests.helpers.mqtt import connect_result, publish_for_both_lines
from tests.helpers.servers import start_profile, until

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).parents[2] / "deploy"
MAKE_CERTS = str(DEPLOY / "mosquitto" / "make-certs.sh")
GW = "edge-plant1-assembly-line1"


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("mtls")
    certs, other = folder / "certs", folder / "other-ca"
    for args in (
        [str(certs), "localhost", "127.0.0.1"],
        [str(certs), "--client", GW, "factory-ingest"],
        [str(other), "localhost"],
        [str(other), "--client", GW],
    ):
        subprocess.run([MAKE_CERTS, *args], check=True, capture_output=True)  # fmt: skip
    generate(
        load_plant(DEPLOY / "plants" / "small.toml"), folder / "factory", group=broker_group(None)
    )
    profile = DEPLOY / "mosquitto" / "mosquitto-mtls.conf"
    text = profile.read_text()
    assert "require_certificate true" in text and "password_file" not in text
    server = start_profile(profile, folder, certs)
    yield {"server": server, "certs": certs, "other": other}
    server.stop()


def client(mtls: dict[str, Any], name: str | None, *, ca: str = "certs") -> mqtt.Client:
    """A client trusting the plant CA, with the certificate of ``name`` from ``ca``'s folder."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
    folder = mtls[ca] / "clients"
    if name is None:
        c.tls_set(ca_certs=str(mtls["certs"] / "ca.crt"))
    else:
        c.tls_set(ca_certs=str(mtls["certs"] / "ca.crt"), certfile=str(folder / f"{name}.crt"),
                  keyfile=str(folder / f"{name}.key"))  # fmt: skip
    return c


def test_only_a_certificate_from_the_plant_ca_gets_in(mtls: dict[str, Any]) -> None:
    port = mtls["server"].port
    assert str(connect_result(client(mtls, GW), port)) == "Success"
    assert str(connect_result(client(mtls, None), port)) != "Success"
    assert str(connect_result(client(mtls, GW, ca="other"), port)) != "Success"
    # A password is no way around the certificate.
    c = client(mtls, None)
    c.username_pw_set(GW, "anything")
    assert str(connect_result(c, port)) != "Success"


async def test_gateway_and_ingest_by_certificate_with_the_acl_per_certificate(
    mtls: dict[str, Any], tmp_path: Path
) -> None:
    port = mtls["server"].port
    clients = mtls["certs"] / "clients"
    config = IngestConfig(client_id=f"ingest-{uuid.uuid4().hex[:8]}",
                          ca_file=mtls["certs"] / "ca.crt",
                          cert_file=clients / "factory-ingest.crt",
                          key_file=clients / "factory-ingest.key")  # fmt: skip
    # No user name or password in the URL: the certificate says who this is.
    service = IngestService(endpoint=parse_mqtt_url(f"mqtts://localhost:{port}"),
                            store=SQLiteStore(tmp_path / "t.db"), config=config)  # fmt: skip
    task = asyncio.create_task(service.run())
    try:
        await asyncio.wait_for(service.ready.wait(), 15)
        await publish_for_both_lines(lambda: client(mtls, GW), port, service)
    finally:
        service.stop()
        await asyncio.wait_for(task, 15)
    with sqlite3.connect(tmp_path / "t.db") as conn:
        rows = conn.execute("SELECT line, machine, seq FROM telemetry").fetchall()
    assert rows == [("line1", "press01", 2)], "the gateway's certificate allows line1 only"


async def test_the_edge_agent_publishes_with_its_certificate(
    mtls: dict[str, Any], tmp_path: Path
) -> None:
    port = mtls["server"].port
    clients = mtls["certs"] / "clients"
    env = {
        **os.environ,
        "FACTORY_MQTT_URL": f"mqtts://localhost:{port}",
        "FACTORY_EDGE__CLIENT_ID": GW,
        "FACTORY_EDGE__CA_FILE": str(mtls["certs"] / "ca.crt"),
        "FACTORY_EDGE__CERT_FILE": str(clients / f"{GW}.crt"),
        "FACTORY_EDGE__KEY_FILE": str(clients / f"{GW}.key"),
        "FACTORY_EDGE__BUFFER": "memory",
    }
    received: list[str] = []
    ingest = client(mtls, "factory-ingest")
    ingest.on_message = lambda _c, _u, m: received.append(m.topic)
    ingest.connect("localhost", port)
    ingest.loop_start()
    ingest.subscribe("factory/v1/#", qos=1)
    try:
        run = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "factory_cli.main", "edge", "--plant",
            str(DEPLOY / "plants" / "small.toml"), "--line", "plant1/assembly/line1",
            "--hours", "0.1", "--speedup", "2000",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(run.communicate(), 60)
        assert run.returncode == 0, out.decode()[-2000:]
        await until(lambda: any(t.endswith("/telemetry") for t in received),
                    "the agent's readings through the broker", 15)  # fmt: skip
    finally:
        ingest.loop_stop()
        ingest.disconnect()
    assert {t.split("/")[4] for t in received if "/telemetry" in t} == {"line1"}
