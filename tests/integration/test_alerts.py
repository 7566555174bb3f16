"""Alerts end to end: a simulated plant with an injected long breakdown, a silent gateway and
an OEE drop raises exactly those alerts, notifies a real HTTP receiver and a real SMTP server
(STARTTLS and sign-in), resolves them as the plant recovers; a webhook that cannot be
reached is retried, then kept as failed and shown."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from alerting.config import AlertsConfig, ChannelConfig
from alerting.notifier import Notifier, read_notices
from alerting.rules import Evaluator
from alerting.service import check
from alerting.state import acknowledge, read_alerts
from plant.model import Plant
from simulators.fleet import Fleet
from store import open_reader, open_store, parse_store_url
from store.base import DeadLetter
from store.sqlite import SQLiteReader, SQLiteStore
from telemetry.codec import Message, decode
from tests.helpers.scenario import (
    MIN,
    NOW1,
    NOW2,
    NOW3,
    T0,
    write_until,
)
from tests.helpers.servers import Server, free_port
from tests.helpers.web import (
    chromium_page,
    dashboard,
    form_sign_in,
    get,
    shot,
    token,
    until_true,
    users,
)

pytestmark = pytest.mark.integration


LINE1 = "plant1/assembly/line1"
PRESS1 = f"{LINE1}/press01"
GATEWAY2 = "gateway:edge-plant1-assembly-line2"


class Receiver:
    """A real HTTP server that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        assert request.headers.get("Authorization") == "Bearer hook-secret"
        self.bodies.append(await request.json())
        return web.json_response({"ok": True})


@asynccontextmanager
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    r = Receiver()
    app = web.Application()
    app.router.add_post("/hook", r.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield r, f"http://127.0.0.1:{port}/hook"
    finally:
        await runner.cleanup()


class Mailbox:
    def __init__(self) -> None:
        self.mails: list[tuple[str, str]] = []
        self.logins: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes

        msg = message_from_bytes(envelope.content)
        self.mails.append((str(msg["Subject"]), msg.get_payload()))
        return "250 OK"


@pytest.fixture
def smtp_server(certs: Path) -> Iterator[tuple[Mailbox, int]]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    box = Mailbox()

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      data: Any) -> AuthResult:  # fmt: skip
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"alerts", b"pw")
        if ok:
            box.logins.append(data.login)
        return AuthResult(success=ok)

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certs / "server.crt", certs / "server.key")
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, tls_context=ctx,
                            require_starttls=True, authenticator=authenticator,
                            auth_require_tls=True)  # fmt: skip
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def config(hook: str, smtp_port: int, ca: Path) -> AlertsConfig:
    return AlertsConfig(
        breakdown_minutes=30, silent_s=300, min_shift_minutes=30, retry_max=3, retry_base_s=1,
        channels=(
            ChannelConfig(name="ops", kind="webhook", url=hook, token="hook-secret"),
            ChannelConfig(name="mail", kind="smtp", smtp_host="127.0.0.1", smtp_port=smtp_port,
                          ca_file=str(ca), username="alerts", password="pw",
                          sender="factory@plant.example", to=("shift-lead@plant.example",)),
            ChannelConfig(name="down", kind="slack", url=f"http://127.0.0.1:{free_port()}/x"),
        ),
    )  # fmt: skip


def keys(alerts: list[Any]) -> set[tuple[str, str]]:
    return {(a.rule, a.subject) for a in alerts}


EXPECTED = {("breakdown", PRESS1), ("silent", GATEWAY2), ("oee", LINE1)}


async def test_alerts_fire_once_notify_and_resolve(
    scenario: tuple[Plant, list[Message]],
    smtp_server: tuple[Mailbox, int],
    certs: Path,
    tmp_path: Path,
) -> None:
    plant, messages = scenario
    box, smtp_port = smtp_server
    db = tmp_path / "t.db"
    store = SQLiteStore(db)
    await store.open()
    reader = SQLiteReader(db)
    try:
        async with receiver() as (hook, url):
            cfg = config(url, smtp_port, certs / "ca.crt")
            evaluator = Evaluator(store, reader, cfg, plant=plant)
            notifier = Notifier(store, reader, cfg)

            await write_until(store, messages, T0, NOW1)
            fired, resolved = await check(evaluator, notifier, NOW1)
            assert keys(fired) == EXPECTED, [a.message for a in fired]
            assert resolved == []
            by_rule = {a.rule: a for a in fired}
            assert "down (motor_fault) for 45 min" in by_rule["breakdown"].message
            assert by_rule["breakdown"].severity == "critical"
            assert "its 2 machine(s) have sent nothing for 10 min" in by_rule["silent"].message
            oee = by_rule["oee"]
            assert oee.value is not None and oee.value < 0.6 and oee.threshold == 0.7
            assert "over the morning shift so far (4 h 00 min)" in oee.message

            # Fired once: the next pass finds them open and fires nothing.
            again, _ = await check(evaluator, notifier, NOW1 + MIN)
            assert again == []
            assert keys(await read_alerts(reader, T0, NOW3)) == EXPECTED

            delivered, failed = await notifier.deliver_due(NOW1 + MIN)
            assert (delivered, failed) == (6, 0)
            assert sorted((b["event"], b["alert"]["subject"]) for b in hook.bodies) == sorted(
                ("fired", s) for _, s in EXPECTED
            )
            assert {b["alert"]["rule"] for b in hook.bodies} == {"breakdown", "silent", "oee"}
            assert len(box.mails) == 3 and box.logins == [b"alerts"] * 3
            assert any(s == f"CRITICAL breakdown: {PRESS1}" for s, _ in box.mails)

            # The plant recovers: press01 runs from 10:20, line2's gateway sends its backlog.
            await write_until(store, messages, NOW1, NOW2)
            fired, resolved = await check(evaluator, notifier, NOW2)
            assert fired == [] and keys(resolved) == {("breakdown", PRESS1), ("silent", GATEWAY2)}
            assert all(a.resolved_ms == NOW2 for a in resolved)

            # The afternoon shift starts afresh: line1's OEE is judged on it alone.
            await write_until(store, messages, NOW2, NOW3)
            fired, resolved = await check(evaluator, notifier, NOW3)
            assert fired == [] and keys(resolved) == {("oee", LINE1)}
            stored = await read_alerts(reader, T0, NOW3 + 1)
            assert keys(stored) == EXPECTED and not any(a.open for a in stored)
            assert {a.rule: a.minutes(NOW3) for a in stored} == {
                "breakdown": 30.0, "silent": 30.0, "oee": (NOW3 - NOW1) / MIN}  # fmt: skip

            delivered, failed = await notifier.deliver_due(NOW3)
            assert delivered == 6
            resolved_bodies = [b for b in hook.bodies if b["event"] == "resolved"]
            assert sorted(b["alert"]["subject"] for b in resolved_bodies) == sorted(
                s for _, s in EXPECTED
            )
            assert resolved_bodies[0]["summary"].startswith("RESOLVED ")
            assert len(box.mails) == 6

            # The unreachable channel: retried with backoff, then kept as failed.
            for step in range(1, 4):
                await notifier.deliver_due(NOW3 + step * 10_000)
            notices = await read_notices(reader, T0, NOW3 + 1)
            down = [n for n in notices if n.channel == "down"]
            assert len(down) == 6 and {n.status for n in down} == {"failed"}
            assert {n.attempts for n in down} == {3}
            assert all("cannot reach" in (n.error or "") for n in down)
            assert {n.status for n in notices if n.channel != "down"} == {"delivered"}
    finally:
        await store.close()

    # Kept and shown: `factory alerts notices` lists them with their error.
    env = {**os.environ, "FACTORY_STORE_URL": f"sqlite:///{db}",
           "FACTORY_ALERTS__HISTORY_DAYS": "366"}  # fmt: skip
    args = [sys.executable, "-m", "factory_cli.main", "alerts", "notices", "--format", "json"]
    run = await asyncio.to_thread(
        subprocess.run, args, env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    shown = json.loads(run.stdout)
    assert sum(1 for n in shown if n["status"] == "failed" and n["channel"] == "down") == 6


async def test_acknowledge_and_retry_from_the_command_line(
    scenario: tuple[Plant, list[Message]], tmp_path: Path
) -> None:
    plant, messages = scenario
    db = tmp_path / "t.db"
    store = SQLiteStore(db)
    await store.open()
    reader = SQLiteReader(db)
    cfg = AlertsConfig(channels=(ChannelConfig(name="log", kind="stdout"),))
    try:
        await write_until(store, messages, T0, NOW1)
        evaluator = Evaluator(store, reader, cfg, plant=plant)
        fired, _ = await check(evaluator, Notifier(store, reader, cfg), NOW1)
        assert keys(fired) == EXPECTED
    finally:
        await store.close()
    env = {**os.environ, "FACTORY_STORE_URL": f"sqlite:///{db}",
           "FACTORY_ALERTS__HISTORY_DAYS": "366",
           "FACTORY_ALERTS__CHANNELS": '[{"name": "log", "kind": "stdout"}]'}  # fmt: skip

    def factory(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "factory_cli.main", "alerts", *args],
                              env=env, capture_output=True, text=True, timeout=60)  # fmt: skip

    listed = factory("list", "--open", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    ids = {a["rule"]: a["id"] for a in json.loads(listed.stdout)}
    acked = factory("ack", ids["breakdown"], "--by", "lan", "--format", "json")
    assert acked.returncode == 0, acked.stderr
    assert json.loads(acked.stdout)["acked_by"] == "lan"
    # The acknowledgement survives the evaluator's next write of the same alert.
    store = SQLiteStore(db)
    await store.open()
    try:
        await Evaluator(store, reader, cfg, plant=plant).once(NOW1 + MIN)
    finally:
        await store.close()
    (breakdown,) = [a for a in await read_alerts(reader, T0, NOW3) if a.rule == "breakdown"]
    assert breakdown.acked_by == "lan" and breakdown.value == 46.0
    bad = factory("ack", "nonsense")
    assert bad.returncode == 2 and "is not an alert id" in bad.stderr
    missing = factory("ack", f"breakdown|{PRESS1}|123")
    assert missing.returncode == 2 and "no alert" in missing.stderr
    sent = factory("notices", "--format", "json")
    assert {n["status"] for n in json.loads(sent.stdout)} == {"pending"}
    retried = factory("retry", "--format", "json")
    assert retried.returncode == 0, retried.stderr
    # The stdout channel's lines come first, then the command's answer.
    lines, answer = retried.stdout.split("{", 1)
    assert json.loads("{" + answer) == {"retried": 0, "delivered": 3, "failed": 0}
    assert f"CRITICAL breakdown: {PRESS1} | {PRESS1} down (motor_fault)" in lines
    assert "CRITICAL silent: " + GATEWAY2 in lines


async def test_the_same_alerts_from_influxdb(
    scenario: tuple[Plant, list[Message]], influx_server: Server, influx_db: str
) -> None:
    """Readings, alerts, their merge on acknowledgement and the status of a gateway, all in
    a real InfluxDB."""
    plant, messages = scenario
    url = parse_store_url(f"influxdb://127.0.0.1:{influx_server.port}/{influx_db}")
    store = open_store(url)
    await store.open()
    reader = open_reader(url)
    try:
        await write_until(store, messages, T0, NOW1)
        # The gateway of line1 said goodbye (its will): one offline alert for it.
        status = decode("factory/v1/plant1/assembly/line1/edge-plant1-assembly-line1/status",
                        b'{"ts": %d, "seq": 1, "online": false}' % (NOW1 - 2 * MIN))  # fmt: skip
        await store.write([status])
        evaluator = Evaluator(store, reader, AlertsConfig(), plant=plant)
        fired, _ = await evaluator.once(NOW1)
        assert keys(fired) == EXPECTED | {("silent", "gateway:edge-plant1-assembly-line1")}
        (offline,) = [a for a in fired if a.subject == "gateway:edge-plant1-assembly-line1"]
        assert offline.message == "gateway edge-plant1-assembly-line1: offline since 2 min"
        acked = await acknowledge(store, reader, fired[0].id, "lan")
        assert acked.acked_by == "lan" and acked.message == fired[0].message
        await write_until(store, messages, NOW1, NOW2)
        await store.write([decode(str(status.topic), b'{"ts": %d, "seq": 2, "online": true}'
                                  % (NOW2 - MIN))])  # fmt: skip
        _, resolved = await evaluator.once(NOW2)
        assert keys(resolved) == EXPECTED - {("oee", LINE1)} | {
            ("silent", "gateway:edge-plant1-assembly-line1")}  # fmt: skip
        stored = {a.key: a for a in await read_alerts(reader, T0, NOW3)}
        assert stored[fired[0].key].acked_by == "lan"
        assert stored[("oee", LINE1)].open and stored[("breakdown", PRESS1)].resolved_ms == NOW2
    finally:
        await store.close()


async def test_the_dashboard_shows_alerts_and_an_operator_acknowledges(
    scenario_fleet: tuple[Plant, list[Message], Fleet], tmp_path: Path
) -> None:
    plant, messages, fleet = scenario_fleet
    db = tmp_path / "t.db"
    store = SQLiteStore(db)
    await store.open()
    reader = SQLiteReader(db)
    nowhere = f"http://127.0.0.1:{free_port()}/x"
    cfg = AlertsConfig(
        retry_max=1, channels=(ChannelConfig(name="down", kind="webhook", url=nowhere),)
    )
    try:
        await write_until(store, messages, T0, NOW1)
        notifier = Notifier(store, reader, cfg)
        await check(Evaluator(store, reader, cfg, plant=plant), notifier, NOW1)
        assert await notifier.deliver_due(NOW1) == (0, 3)
    finally:
        await store.close()
    users(db).close()
    viewer = token(db, "viewer")
    async with dashboard(fleet, db, anonymous=False) as base:
        status, doc = await get(base + "/api/alerts", viewer)
        assert status == 200 and doc["open"] == 3 and doc["notices"]["failed"] == 3
        assert {a["rule"] for a in doc["alerts"]} == {"breakdown", "silent", "oee"}
        ack = {"id": doc["alerts"][0]["id"]}
        as_viewer = {"Authorization": f"Bearer {viewer}"}
        async with (
            aiohttp.ClientSession() as s,
            s.post(base + "/api/alerts/ack", json=ack, headers=as_viewer) as r,
        ):
            assert r.status == 403
        async with chromium_page(base) as (page, problems):
            await form_sign_in(page, base, "olga")
            await until_true(
                page, "document.querySelectorAll('#alerts-table tbody tr').length === 3"
            )
            text = await page.inner_text("#undelivered")
            assert "3 notification(s) could not be delivered" in text and "cannot reach" in text
            row = f'#alerts-table tr[data-alert="breakdown|{PRESS1}|{NOW1}"]'
            assert "down (motor_fault) for 45 min" in await page.inner_text(row)
            await page.click(f"{row} button.ack")
            await until_true(page, f"document.querySelector('{row}').innerText.includes('olga')")
            await shot(page, tmp_path, "dashboard-alerts.png", "#alerts")
            assert problems == [], problems
    log = users(db)
    try:
        (event,) = [e for e in log.audit_log() if e["action"] == "alert.ack"]
    finally:
        log.close()
    assert event["user"] == "olga" and event["ok"] and event["detail"].startswith("breakdown|")
    (acked,) = [a for a in await read_alerts(reader, T0, NOW3) if a.rule == "breakdown"]
    assert acked.acked_by == "olga"


async def test_factory_kpi_evaluates_and_notifies_on_its_schedule(tmp_path: Path) -> None:
    """The long-running loop: `factory aggregate` raises an alert and prints its notification on
    the stdout channel within seconds, then stops cleanly on SIGTERM."""
    db = tmp_path / "t.db"
    store = SQLiteStore(db)
    await store.open()
    letters = store.deadletters(source="t", max_payload_bytes=100)
    await letters.add([DeadLetter(f"t/{i}", b"not json", "bad") for i in range(3)])
    await store.close()
    env = {**os.environ, "FACTORY_STORE_URL": f"sqlite:///{db}", "FACTORY_ALERTS__EVERY_S": "1",
           "FACTORY_ALERTS__DEADLETTERS": "2", "PYTHONUNBUFFERED": "1",
           "FACTORY_ALERTS__CHANNELS": '[{"name": "log", "kind": "stdout"}]'}  # fmt: skip
    env.pop("FACTORY_PLANT", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "factory_cli.main", "aggregate", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
    finally:
        proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert line.decode().startswith("WARNING deadletters: store | 3 rejected messages kept")
    assert proc.returncode == 0, err.decode()[-2000:]
    (alert,) = await read_alerts(SQLiteReader(db), 0, 2**62)
    assert alert.rule == "deadletters" and alert.open
