"""Alert logic: transitions, the demand and dead-letter rules, payloads, the rate limit and
the configuration's refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from alerting.config import AlertsConfig, ChannelConfig
from alerting.notifier import Notifier, payload, read_notices, summary
from alerting.rules import Evaluator
from alerting.state import Alert, Condition, parse_id, read_alerts, transitions
from store.base import DeadLetter
from store.sqlite import SQLiteReader, SQLiteStore
from telemetry.codec import decode
from tests.helpers.plants import one_machine_plant


def test_fire_once_resolve_only_evaluated_rules_and_follow_the_figures() -> None:
    cond = [Condition("breakdown", "s/a/l/m", "down for 31 min", 31.0, 30.0)]
    fired, resolved, changed = transitions([], cond, {"breakdown"}, 1000)
    assert [(a.rule, a.subject, a.fired_ms, a.severity) for a in fired] == [
        ("breakdown", "s/a/l/m", 1000, "critical")
    ]
    assert resolved == changed == []
    open_ = fired
    later = [Condition("breakdown", "s/a/l/m", "down for 32 min", 32.0, 30.0)]
    fired, resolved, changed = transitions(open_, later, {"breakdown"}, 2000)
    assert fired == resolved == [] and changed[0].value == 32.0 and changed[0].fired_ms == 1000
    # A rule that was not evaluated keeps its alerts open; an evaluated one resolves.
    assert transitions(open_, [], {"oee"}, 3000) == ([], [], [])
    _, resolved, _ = transitions(open_, [], {"breakdown"}, 3000)
    assert resolved[0].resolved_ms == 3000 and resolved[0].minutes(9999) == 0.0
    oee = Condition("oee", "s/a/l", "OEE 40 %", 0.4, 0.6)
    assert transitions([], [oee], {"oee"}, 0)[0][0].severity == "warning"


def test_ids_round_trip_and_bad_ones_are_refused() -> None:
    a = Alert("silent", "gateway:edge-1", 1234, "quiet")
    assert parse_id(a.id) == ("silent", "gateway:edge-1", 1234)
    for bad in ("", "a|b", "a|b|c", "a|b|1|2", "x" * 400 + "|b|1"):
        with pytest.raises(ValueError, match="not an alert id"):
            parse_id(bad)


def test_payloads_for_each_kind_of_webhook() -> None:
    a = Alert("breakdown", "s/a/l/m", 0, "s/a/l/m down (jam) for 45 min", "critical", 45.0, 30.0,
              resolved_ms=3_600_000, acked_by="lan", acked_ms=60_000)  # fmt: skip
    hook = ChannelConfig(name="h", kind="webhook", url="http://x/")
    body = payload(hook, a, "resolved", 3_600_000)
    assert body["event"] == "resolved" and body["alert"]["minutes"] == 60.0
    assert body["summary"] == "RESOLVED breakdown: s/a/l/m after 60 min"
    assert "acknowledged by lan" in body["text"]
    slack = payload(ChannelConfig(name="s", kind="slack", url="http://x/"), a, "fired", 0)
    assert slack == {"text": "*CRITICAL breakdown: s/a/l/m*\n" + summary(a, "fired", 0)[1]}
    teams = payload(ChannelConfig(name="t", kind="teams", url="http://x/"), a, "fired", 0)
    card = teams["attachments"][0]
    assert teams["type"] == "message"
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["body"][0]["text"] == "CRITICAL breakdown: s/a/l/m"


def test_channels_and_settings_are_checked() -> None:
    for kw, words in (
        ({"kind": "webhook"}, "needs url"),
        ({"kind": "smtp", "smtp_host": "h"}, "needs smtp_host, sender and to"),
        ({"kind": "stdout", "username": "u"}, "username and password go together"),
        ({"kind": "stdout", "rules": ["nope"]}, "no rule 'nope'"),
        ({"kind": "webhook", "url": "ftp://x"}, "should match pattern"),
    ):
        with pytest.raises(ValidationError, match=words):
            ChannelConfig(name="c", **kw)
    with pytest.raises(ValidationError, match="used twice"):
        AlertsConfig(channels=(ChannelConfig(name="c", kind="stdout"),) * 2)


async def test_demand_and_dead_letters_raise_and_the_rate_limit_keeps_the_rest(
    tmp_path: Path,
) -> None:
    plant = one_machine_plant(tmp_path, site="s1", contracted_kw=100.0)
    db = tmp_path / "t.db"
    store = SQLiteStore(db)
    await store.open()
    reader = SQLiteReader(db)
    now = 1_772_532_000_000  # 10:00 UTC
    try:
        # The main meter draws 96 kW over the last 15 minutes: 96 % of the contracted 100.
        topic = "factory/v1/s1/utilities/main/incomer/energy"
        for i in range(16):
            t = now - 15 * 60_000 + i * 60_000
            body = b'{"ts": %d, "seq": %d, "power_kw": 96, "energy_kwh": %.3f}' % (
                t,
                i,
                1000 + 1.6 * i,
            )
            await store.write([decode(topic, body)])
        letters = store.deadletters(source="t", max_payload_bytes=100)
        await letters.add([DeadLetter(f"t/{i}", b"x", "bad") for i in range(3)])
        cfg = AlertsConfig(deadletters=2, silent_s=0, breakdown_minutes=0, rate_per_hour=1,
                           channels=(ChannelConfig(name="log", kind="stdout"),))  # fmt: skip
        fired, _ = await Evaluator(store, reader, cfg, plant=plant).once(now)
        assert {(a.rule, a.subject) for a in fired} == {("demand", "s1"), ("deadletters", "store")}
        demand = next(a for a in fired if a.rule == "demand")
        assert demand.value == pytest.approx(96.0) and demand.threshold == 90.0
        assert "96% of the contracted 100 kW" in demand.message
        notices = await Notifier(store, reader, cfg).enqueue(fired, [], now)
        assert sorted(n.status for n in notices) == ["pending", "pending"]  # one per rule
        again = Alert("demand", "s1", now + 1, "again")
        (limited,) = await Notifier(store, reader, cfg).enqueue([again], [], now + 1)
        assert limited.status == "suppressed" and "rate limit: 1 notices" in (limited.error or "")
        stored = await read_notices(reader, 0, now + 2)
        assert len(stored) == 3 and {n.status for n in stored} == {"pending", "suppressed"}
        assert len(await read_alerts(reader, 0, now + 2)) == 2
    finally:
        await store.close()


async def test_a_breakdown_alert_is_the_stop_the_machine_page_shows(tmp_path: Path) -> None:
    """press m idles (no reason) from 09:00, then goes DOWN "jam" at 09:20 without running
    in between: one stop since 09:00 (analytics.oee.stops), so at 10:00 it has been down for
    60 minutes, not 40."""
    plant = one_machine_plant(tmp_path, site="s1")
    db = tmp_path / "t.db"
    store = SQLiteStore(db)
    await store.open()
    reader = SQLiteReader(db)
    nine = 1_772_528_400_000  # 2026-03-03T09:00Z
    topic = "factory/v1/s1/a/l/m/telemetry"
    try:
        for i in range(121):  # every 30 s to 10:00
            state, reason = ("IDLE", "null") if i < 40 else ("DOWN", '"jam"')
            body = (f'{{"ts": {nine + i * 30_000}, "seq": {i}, "state": "{state}", '
                    f'"reason": {reason}, "total_count": 5, "good_count": 5}}')  # fmt: skip
            await store.write([decode(topic, body.encode())])
        cfg = AlertsConfig(silent_s=0, breakdown_minutes=30, channels=())
        fired, _ = await Evaluator(store, reader, cfg, plant=plant).once(nine + 3_600_000)
        (down,) = [a for a in fired if a.rule == "breakdown"]
        assert down.subject == "s1/a/l/m" and down.value == 60.0
        assert "down (jam) for 1 h 00 min" in down.message
    finally:
        await store.close()
