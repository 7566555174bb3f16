"""Sparkplug B against an implementation no one here wrote: Eclipse Tahu's JavaScript edge node
client (npm sparkplug-client, tests/js) publishes births, data by alias and deaths through a
real Mosquitto to our ingest, which stores them as readings, keeps what it cannot use as dead
letters with their reasons, and asks the node for a rebirth (NCMD) that Tahu obeys."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ingest.config import IngestConfig
from ingest.service import IngestService
from ingest.sparkplug_config import SparkplugConfig, SparkplugDevice
from store.sqlite import SQLiteStore
from telemetry.urls import parse_mqtt_url
from tests.helpers.servers import Server, require_binary, until

pytestmark = pytest.mark.integration

JS = Path(__file__).resolve().parent.parent / "js"
LINE = {"site": "plant1", "area": "assembly", "line": "line1"}
PRESS = [
    {"name": "State", "alias": 1, "type": "String", "value": "RUNNING"},
    {"name": "Counts/Total", "alias": 2, "type": "UInt64", "value": 100},
    {"name": "Counts/Good", "alias": 3, "type": "UInt64", "value": 98},
    {"name": "Stop Reason", "alias": 4, "type": "String", "value": ""},
    {"name": "Sensors/Temperature C", "alias": 5, "type": "Float", "value": 41.5},
]
METER = [
    {"name": "Energy/kWh", "alias": 1, "type": "Double", "value": 5000.25},
    {"name": "Power/kW", "alias": 2, "type": "Float", "value": 12.5},
]


@pytest.fixture(scope="session")
def tahu() -> Path:
    """Eclipse Tahu's JavaScript client, installed by npm into tests/js (make test does too)."""
    node = require_binary("node", "nodejs", "/usr/bin")
    if not (JS / "node_modules" / "sparkplug-client").exists():
        npm = require_binary("npm", "npm", "/usr/bin")
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=JS,
            check=True,
            timeout=300,
            stdout=subprocess.DEVNULL,
        )
    return Path(node)


class TahuNode:
    """tests/js/edge_node.js as a process: commands in, events out."""

    def __init__(
        self,
        node: Path,
        broker: Server,
        group: str,
        name: str,
        devices: dict[str, list[dict[str, Any]]],
        **extra: Any,
    ) -> None:
        self.args = [
            str(node),
            str(JS / "edge_node.js"),
            json.dumps(
                {
                    "broker": f"mqtt://127.0.0.1:{broker.port}",
                    "group": group,
                    "node": name,
                    "devices": devices,
                    **extra,
                }
            ),
        ]
        self.proc: asyncio.subprocess.Process | None = None
        self.events: list[dict[str, Any]] = []

    async def __aenter__(self) -> TahuNode:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.kill()
        await asyncio.wait_for(self.proc.wait(), 10)

    async def send(self, **cmd: Any) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        await self.proc.stdin.drain()
        if cmd["op"] not in ("stop", "kill"):
            await self.expect("sent")
            # Readings of one machine are one per millisecond (the store's key): a node does
            # not send two states of a device within the same millisecond.
            await asyncio.sleep(0.005)

    async def expect(self, event: str, timeout_s: float = 20.0) -> dict[str, Any]:
        """The next event named ``event`` (earlier other events are kept in ``events``)."""
        assert self.proc is not None and self.proc.stdout is not None
        async with asyncio.timeout(timeout_s):
            while True:
                line = await self.proc.stdout.readline()
                assert line, f"the Tahu node ended before {event!r}: {self.events}"
                got = json.loads(line)
                self.events.append(got)
                if got["event"] == event:
                    return got  # type: ignore[no-any-return]


@contextlib.asynccontextmanager
async def ingest(broker: Server, root: str, db: Path) -> AsyncIterator[IngestService]:
    devices = (
        SparkplugDevice(group="plant1", node="gw1", device="*", **LINE),
        SparkplugDevice(
            group="plant1",
            node="gw1",
            device="meter",
            machine="main_meter",
            site="plant1",
            area="utilities",
            line="main",
        ),
    )
    config = IngestConfig(
        client_id=f"in-{uuid.uuid4().hex[:8]}",
        batch_linger_s=0.01,
        sparkplug=SparkplugConfig(groups=("plant1",), devices=devices, rebirth_min_interval_s=0.5),
    )
    service = IngestService(
        endpoint=parse_mqtt_url(f"mqtt://127.0.0.1:{broker.port}"),
        store=SQLiteStore(db),
        config=config,
        root=root,
    )
    task = asyncio.create_task(service.run())
    await asyncio.wait_for(service.ready.wait(), 10)
    try:
        yield service
    finally:
        service.stop()
        await asyncio.wait_for(task, 20)


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


async def test_tahu_edge_node_to_our_store(
    tahu: Path, mosquitto_server: Server, topic_root: str, tmp_path: Path
) -> None:
    db = tmp_path / "t.db"
    async with ingest(mosquitto_server, topic_root, db) as service:
        assert service.sparkplug is not None
        stats = service.sparkplug.stats
        async with TahuNode(
            tahu, mosquitto_server, "plant1", "gw1", {"press01": PRESS, "meter": METER}
        ) as gw:
            await gw.expect("births")
            await until(lambda: service.stats.written_readings >= 2, "the births' readings")
            # Data by alias (names left out), as a node that uses aliases sends it.
            for total, good in ((101, 99), (102, 100), (103, 100)):
                await gw.send(
                    op="ddata",
                    device="press01",
                    metrics=[
                        {"alias": 2, "type": "UInt64", "value": total},
                        {"alias": 3, "type": "UInt64", "value": good},
                    ],
                )
            await gw.send(
                op="ddata",
                device="press01",
                metrics=[
                    {"alias": 1, "type": "String", "value": "DOWN"},
                    {"alias": 4, "type": "String", "value": "motor_fault"},
                ],
            )
            await gw.send(
                op="ddata",
                device="meter",
                metrics=[
                    {"alias": 1, "type": "Double", "value": 5001.5},
                    {"alias": 2, "type": "Float", "value": 0.0},
                ],
            )
            # An alias the birth never gave: a dead letter, and a rebirth Tahu obeys.
            await gw.send(
                op="ddata", device="press01", metrics=[{"alias": 42, "type": "UInt64", "value": 7}]
            )
            ncmd = await gw.expect("ncmd")
            assert ncmd["metrics"] == [
                {"name": "Node Control/Rebirth", "type": "Boolean", "value": True}
            ]
            await gw.expect("reborn")
            await until(lambda: stats.births >= 6, "the rebirth's births")
            await gw.send(
                op="ddata",
                device="press01",
                metrics=[{"name": "State", "type": "String", "value": "RUNNING"}],
            )
            await until(lambda: service.stats.written_readings >= 12, "every reading stored")
            # A node that sends data before any birth (an ingest restarted, say): dead letters,
            # then its births on request.
            async with TahuNode(
                tahu, mosquitto_server, "plant1", "gw1b", {"press02": PRESS}, birth_on_connect=False
            ) as late:
                await late.expect("connected")
                await late.send(
                    op="ddata",
                    device="press02",
                    metrics=[{"alias": 2, "type": "UInt64", "value": 5}],
                )
                await late.expect("reborn")
            # Killed without a word: the broker sends Tahu's NDEATH will; every device offline.
            await gw.send(op="kill")
        await until(lambda: stats.deaths >= 1, "the NDEATH will", timeout_s=60)
        await until(lambda: service.stats.written_readings >= 16, "the offline statuses")

    press = rows(
        db,
        "SELECT state, reason, total_count, good_count FROM telemetry "
        "WHERE machine = 'press01' ORDER BY ts, seq",
    )
    assert press == [
        ("RUNNING", None, 100, 98),
        ("RUNNING", None, 101, 99),
        ("RUNNING", None, 102, 100),
        ("RUNNING", None, 103, 100),
        ("DOWN", "motor_fault", 103, 100),
        ("DOWN", "motor_fault", 103, 100),  # the rebirth: current values again
        ("RUNNING", "motor_fault", 103, 100),
    ]
    temperatures = rows(db, "SELECT DISTINCT name, value FROM sensor WHERE machine = 'press01'")
    assert temperatures == [("temperature_c", 41.5)]
    meter = rows(db, "SELECT machine, energy_kwh, power_kw FROM energy ORDER BY ts, seq")
    assert meter == [
        ("main_meter", 5000.25, 12.5),
        ("main_meter", 5001.5, 0.0),
        ("main_meter", 5001.5, 0.0),
    ]
    status = rows(db, "SELECT machine, online FROM status ORDER BY ts, seq")
    assert ("press01", 0) in status and ("main_meter", 0) in status
    assert status[0][1] == 1
    letters = [e for (e,) in rows(db, "SELECT error FROM deadletter")]
    assert any("alias 42 is not in the birth" in e for e in letters), letters
    assert any("before its node's birth" in e for e in letters), letters
    assert stats.rebirths_requested >= 2 and stats.unknown_aliases == 1


class TahuHost:
    """tests/js/host.js: every spBv1.0 message of a group, decoded by Tahu's codec."""

    def __init__(self, node: Path, broker: Server, group: str) -> None:
        self.args = [
            str(node),
            str(JS / "host.js"),
            json.dumps({"broker": f"mqtt://127.0.0.1:{broker.port}", "group": group}),
        ]
        self.proc: asyncio.subprocess.Process | None = None
        self.messages: list[dict[str, Any]] = []
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TahuHost:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        subscribed = asyncio.Event()

        async def read() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            while line := await self.proc.stdout.readline():
                event = json.loads(line)
                if event["event"] == "subscribed":
                    subscribed.set()
                elif event["event"] in ("message", "undecodable"):
                    self.messages.append(event)

        self._reader = asyncio.create_task(read())
        await asyncio.wait_for(subscribed.wait(), 20)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.kill()
        await asyncio.wait_for(self.proc.wait(), 10)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["topic"].split("/")[2] == kind]

    async def rebirth(self, node: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"op": "rebirth", "node": node}) + "\n").encode())
        await self.proc.stdin.drain()


async def test_our_edge_agent_as_a_sparkplug_node_decoded_by_tahu(
    tahu: Path, mosquitto_server: Server, tmp_path: Path
) -> None:
    from tests.helpers.servers import factory_process

    buffer = tmp_path / "edge-buffer.db"
    env = {
        "FACTORY_MQTT_URL": f"mqtt://127.0.0.1:{mosquitto_server.port}",
        "FACTORY_EDGE__CLIENT_ID": "gw-spb",
        "FACTORY_EDGE__BUFFER_PATH": str(buffer),
        "FACTORY_EDGE__PAYLOAD": "sparkplug",
        "FACTORY_EDGE__SPARKPLUG_GROUP": "spbtest",
        "FACTORY_LOG_LEVEL": "INFO",
        # This checkout's code, wherever the package is installed from.
        "PYTHONPATH": str(JS.parents[1]),
    }
    log = tmp_path / "edge.log"
    args = ["edge", "--machines", "1", "--hours", "2", "--speedup", "600", "--seed", "5"]
    async with TahuHost(tahu, mosquitto_server, "spbtest") as host:
        proc = factory_process(args, env, log)
        try:
            await until(lambda: len(host.of("DDATA")) >= 20, "data decoded by Tahu")
            await host.rebirth("gw-spb")
            await until(lambda: len(host.of("NBIRTH")) >= 2, "the births again, on request")
            await until(lambda: len(host.of("DDATA")) >= 40, "data after the rebirth")
            proc.kill()  # no word from the agent: the broker sends its will
            await until(lambda: len(host.of("NDEATH")) >= 1, "the NDEATH will")
            second = factory_process(args, env, log)
            await until(lambda: len(host.of("NBIRTH")) >= 3, "the next session's birth")
            second.terminate()  # a clean stop publishes the death certificate itself
            await asyncio.to_thread(second.wait, 30)
            await until(lambda: len(host.of("NDEATH")) >= 2, "the clean stop's NDEATH")
        finally:
            proc.kill()
    assert not [m for m in host.messages if m["event"] == "undecodable"]
    births = host.of("NBIRTH")
    bd = [next(x["value"] for x in b["metrics"] if x["name"] == "bdSeq") for b in births]
    deaths = [
        next(x["value"] for x in d["metrics"] if x["name"] == "bdSeq") for d in host.of("NDEATH")
    ]
    # The rebirth keeps the session's bdSeq; the next process is one up (kept on disk); each
    # death certificate names the session it ends.
    assert bd[0] == bd[1] and bd[2] == (bd[0] + 1) % 256 and deaths == [bd[0], bd[2]]
    assert all(b["seq"] == 0 for b in births)
    # Every message of a session after its NBIRTH carries the next seq (mod 256).
    first_session = host.messages[: host.messages.index(host.of("NDEATH")[0])]
    seqs = [m["seq"] for m in first_session if m["topic"].split("/")[2] != "NCMD"]
    for a, b in itertools.pairwise(seqs):
        assert b == 0 or b == (a + 1) % 256, seqs
    # Births: every metric with its alias and datatype, and where the device is.
    (dbirth, *_) = host.of("DBIRTH")
    metrics = {m["name"]: m for m in dbirth["metrics"]}
    assert {"State", "Counts/Total", "Counts/Good", "Reason", "Factory/Path"} <= set(metrics)
    assert metrics["State"]["type"] == "String" and metrics["Counts/Total"]["type"] == "UInt64"
    assert metrics["Factory/Path"]["value"].count("/") == 3
    assert all(m["alias"] is not None for m in dbirth["metrics"])
    # Data by alias only, values of the datatypes the birth gave.
    aliases = {m["alias"]: m for b in host.of("DBIRTH") for m in b["metrics"]}
    for data in host.of("DDATA"):
        for m in data["metrics"]:
            assert m["name"] is None and m["alias"] in aliases
            assert m["type"] == aliases[m["alias"]]["type"]
    counts = [
        m["value"]
        for d in host.of("DDATA")
        for m in d["metrics"]
        if aliases[m["alias"]]["name"] == "Counts/Total"
    ]
    assert counts == sorted(counts) and counts[-1] > 0
