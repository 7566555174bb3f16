"""Sparkplug B: our encoding and decoding of payloads (protobuf, the specification's schema),
and the ingest's host-application state machine (births, aliases, seq, deaths, rebirth
requests) against hand-made traffic. The independent implementation (Eclipse Tahu) is in
tests/integration/test_sparkplug.py."""

from __future__ import annotations

import pytest

from ingest.sparkplug import SparkplugDecoder
from ingest.sparkplug_config import SparkplugConfig, SparkplugDevice
from telemetry.models import Channel, MachineState
from telemetry.sparkplug import (
    BOOLEAN,
    DOUBLE,
    FLOAT,
    INT8,
    INT32,
    INT64,
    STRING,
    UINT32,
    UINT64,
    Metric,
    SparkplugError,
    decode_payload,
    encode_payload,
    parse_topic,
)

T0 = 1_795_000_000_000
LINE = {"site": "plant1", "area": "assembly", "line": "line1"}


def test_topics() -> None:
    t = parse_topic("spBv1.0/plant1/DDATA/gw1/press01")
    assert (t.group, t.type, t.node, t.device) == ("plant1", "DDATA", "gw1", "press01")
    assert str(t) == "spBv1.0/plant1/DDATA/gw1/press01"
    for bad, why in (
        ("spBv2.0/g/NDATA/n", "not a Sparkplug B topic"),
        ("spBv1.0/g/NDATA/n/d", "no device level"),
        ("spBv1.0/g/DDATA/n", "needs a device level"),
        ("spBv1.0/g/XDATA/n", "unknown message type"),
        ("spBv1.0/g/DDATA/n/d/e", "too many"),
    ):
        with pytest.raises(SparkplugError, match=why):
            parse_topic(bad)


def test_values_round_trip_in_their_datatypes_field() -> None:
    metrics = [
        Metric("i8", 1, INT8, -3),
        Metric("i32", 2, INT32, -123456),
        Metric("i64", 3, INT64, -(2**40)),
        Metric("u32", 4, UINT32, 4_000_000_000),
        Metric("u64", 5, UINT64, 2**63 + 5),
        Metric("f", 6, FLOAT, 1.5),
        Metric("d", 7, DOUBLE, 0.1),
        Metric("b", 8, BOOLEAN, True),
        Metric("s", 9, STRING, "RUNNING"),
        Metric("n", 10, DOUBLE, None),
    ]
    p = decode_payload(encode_payload(T0, 7, metrics))
    assert (p.timestamp, p.seq) == (T0, 7)
    assert [(m.name, m.alias, m.datatype, m.value) for m in p.metrics] == [
        (m.name, m.alias, m.datatype, m.value) for m in metrics
    ]
    assert p.metrics[-1].is_null


def test_a_value_that_does_not_fit_its_datatype_is_not_encoded() -> None:
    with pytest.raises(SparkplugError, match="-1 does not fit UInt64"):
        encode_payload(T0, 0, [Metric("count", 1, UINT64, -1)])


def test_a_value_outside_its_datatypes_field_is_refused() -> None:
    from telemetry import sparkplug_b_pb2 as pb

    payload = pb.Payload(timestamp=T0, seq=0)
    m = payload.metrics.add(name="count", datatype=INT32)
    m.double_value = 3.0
    with pytest.raises(SparkplugError, match="datatype Int32 but the value is in double_value"):
        decode_payload(payload.SerializeToString())
    with pytest.raises(SparkplugError, match="not a Sparkplug B payload"):
        decode_payload(b"\xff\xff\xff")


def config(**kw: object) -> SparkplugConfig:
    devices = [
        SparkplugDevice(group="plant1", node="gw1", device="press01", machine="press01", **LINE),
        SparkplugDevice(
            group="plant1", node="gw1", device="meter", machine="press01_meter", **LINE
        ),
        SparkplugDevice(
            group="plant1",
            node="gw2",
            device="*",
            **LINE,
            state_map={"1": MachineState.RUNNING, "3": MachineState.DOWN},
        ),
    ]
    return SparkplugConfig(groups=("plant1",), devices=tuple(devices), **kw)  # type: ignore[arg-type]


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sent() -> list[tuple[str, bytes]]:
    return []


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dec(sent: list[tuple[str, bytes]], clock: Clock) -> SparkplugDecoder:
    return SparkplugDecoder(
        config(), root="factory", publish=lambda t, p: sent.append((t, p)), clock=clock
    )


def machine_birth(seq: int, state: object = "RUNNING", total: int = 10, good: int = 9) -> bytes:
    return encode_payload(
        T0,
        seq,
        [
            Metric("State", 1, STRING if isinstance(state, str) else INT32, state),  # type: ignore[arg-type]
            Metric("Counts/Total", 2, UINT64, total),
            Metric("Counts/Good", 3, UINT64, good),
            Metric("Stop Reason", 4, STRING, ""),
            Metric("Sensors/Vibration mm_s", 5, FLOAT, 2.5),
            Metric("Properties/Vendor", 6, STRING, "acme"),
        ],
    )


def nbirth(bd: int = 0) -> bytes:
    return encode_payload(
        T0,
        0,
        [Metric("bdSeq", None, UINT64, bd), Metric("Node Control/Rebirth", None, BOOLEAN, False)],
    )


def test_births_data_by_alias_and_deaths(
    dec: SparkplugDecoder, sent: list[tuple[str, bytes]]
) -> None:
    assert dec.decode("spBv1.0/plant1/NBIRTH/gw1", nbirth(4)).messages == []
    out = dec.decode("spBv1.0/plant1/DBIRTH/gw1/press01", machine_birth(1))
    assert out.error is None
    tel, status = out.messages
    assert str(tel.topic) == "factory/v1/plant1/assembly/line1/press01/telemetry"
    r = tel.readings[0]
    assert (r.state, r.total_count, r.good_count, r.reason, r.ts, r.seq) == (  # type: ignore[union-attr]
        "RUNNING",
        10,
        9,
        None,
        T0,
        1,
    )
    assert r.sensors == {"vibration_mm_s": 2.5}  # type: ignore[union-attr]
    assert status.topic.channel is Channel.STATUS and status.readings[0].online  # type: ignore[union-attr]
    # Data by alias, only what changed; the reading carries every current value.
    data = encode_payload(
        T0 + 5000,
        2,
        [
            Metric(None, 2, UINT64, 12, timestamp=T0 + 4000),
            Metric(None, 1, STRING, "DOWN", timestamp=T0 + 4500),
            Metric(None, 4, STRING, "jam"),
        ],
    )
    (tel,) = dec.decode("spBv1.0/plant1/DDATA/gw1/press01", data).messages
    r = tel.readings[0]
    assert (r.state, r.total_count, r.good_count, r.reason, r.ts) == (  # type: ignore[union-attr]
        "DOWN",
        12,
        9,
        "jam",
        T0 + 4500,
    )
    # A meter on the same node.
    meter = encode_payload(
        T0, 3, [Metric("Energy/kWh", 1, DOUBLE, 1234.5), Metric("Power/kW", 2, FLOAT, 7.5)]
    )
    energy, _ = dec.decode("spBv1.0/plant1/DBIRTH/gw1/meter", meter).messages
    assert energy.topic.channel is Channel.ENERGY
    assert (energy.readings[0].energy_kwh, energy.readings[0].power_kw) == (1234.5, 7.5)  # type: ignore[union-attr]
    # A death of an old session is ignored; the session's own takes every device offline.
    assert (
        dec.decode(
            "spBv1.0/plant1/NDEATH/gw1",
            encode_payload(T0, None, [Metric("bdSeq", None, UINT64, 3)]),
        ).messages
        == []
    )
    assert dec.stats.stale_deaths == 1
    out = dec.decode(
        "spBv1.0/plant1/NDEATH/gw1",
        encode_payload(T0 + 9000, None, [Metric("bdSeq", None, UINT64, 4)]),
    )
    assert sorted(str(m.topic.path) for m in out.messages) == [
        "plant1/assembly/line1/press01",
        "plant1/assembly/line1/press01_meter",
    ]
    assert not any(m.readings[0].online for m in out.messages)  # type: ignore[union-attr]
    assert sent == [] and dec.stats.seq_gaps == 0


def test_a_seq_gap_asks_for_a_rebirth_and_keeps_the_data(
    dec: SparkplugDecoder, sent: list[tuple[str, bytes]], clock: Clock
) -> None:
    dec.decode("spBv1.0/plant1/NBIRTH/gw1", nbirth())
    dec.decode("spBv1.0/plant1/DBIRTH/gw1/press01", machine_birth(1))
    data = encode_payload(T0 + 1000, 5, [Metric(None, 2, UINT64, 11)])
    out = dec.decode("spBv1.0/plant1/DDATA/gw1/press01", data)
    assert out.error is None and out.messages[0].readings[0].total_count == 11  # type: ignore[union-attr]
    assert dec.stats.seq_gaps == 1 and len(sent) == 1
    topic, payload = sent[0]
    assert topic == "spBv1.0/plant1/NCMD/gw1"
    (cmd,) = decode_payload(payload).metrics
    assert (cmd.name, cmd.datatype, cmd.value) == ("Node Control/Rebirth", BOOLEAN, True)
    # Another gap within the interval: counted, not asked again; after it, asked again.
    dec.decode("spBv1.0/plant1/DDATA/gw1/press01", encode_payload(T0 + 2000, 9, []))
    assert dec.stats.seq_gaps == 2 and len(sent) == 1
    clock.now += 6
    dec.decode("spBv1.0/plant1/DDATA/gw1/press01", encode_payload(T0 + 3000, 20, []))
    assert len(sent) == 2 and dec.stats.rebirths_requested == 2


@pytest.mark.parametrize(
    ("steps", "why"),
    [
        ([("DDATA/gw1/press01", encode_payload(T0, 1, []))], "before its node's birth"),
        (
            [("NBIRTH/gw1", nbirth()), ("DDATA/gw1/press01", encode_payload(T0, 1, []))],
            "before its birth \\(DBIRTH\\)",
        ),
        (
            [
                ("NBIRTH/gw1", nbirth()),
                ("DBIRTH/gw1/press01", machine_birth(1)),
                ("DDATA/gw1/press01", encode_payload(T0, 2, [Metric(None, 99, UINT64, 1)])),
            ],
            "alias 99 is not in the birth",
        ),
        (
            [
                ("NBIRTH/gw1", nbirth()),
                ("DBIRTH/gw1/press01", machine_birth(1)),
                ("DDATA/gw1/press01", encode_payload(T0, 2, [Metric(None, 2, STRING, "x")])),
            ],
            "sent with datatype 12, born with 8",
        ),
        (
            [
                ("NBIRTH/gw1", nbirth()),
                (
                    "DBIRTH/gw1/press01",
                    encode_payload(T0, 1, [Metric("a", 1, INT32, 1), Metric("b", 1, INT32, 2)]),
                ),
            ],
            "alias 1 names both 'a' and 'b'",
        ),
        (
            [("NBIRTH/gw1", nbirth()), ("DBIRTH/gw1/press01", machine_birth(1, total=5))],
            "good_count 9 exceeds total_count 5",
        ),
        (
            [("NBIRTH/gw1", nbirth()), ("DBIRTH/gw1/unknown", machine_birth(1))],
            "plant1/gw1/unknown is not mapped",
        ),
        (
            [("NBIRTH/gw2", nbirth()), ("DBIRTH/gw2/cnc07", machine_birth(1, state=2))],
            "state code 2 of metric 'State' is not in state_map",
        ),
        ([("NBIRTH/gw1", encode_payload(T0, 0, []))], "without its bdSeq metric"),
        (
            [
                ("NBIRTH/gw1", nbirth()),
                (
                    "DBIRTH/gw1/press01",
                    encode_payload(T0, 1, [Metric("Temperature", 1, FLOAT, 20.0)]),
                ),
            ],
            "neither a machine's state and counters nor a meter's energy",
        ),
    ],
)
def test_refused_with_a_reason(
    dec: SparkplugDecoder, steps: list[tuple[str, bytes]], why: str
) -> None:
    outcomes = [dec.decode(f"spBv1.0/plant1/{where}", payload) for where, payload in steps]
    assert all(o.error is None for o in outcomes[:-1]), [o.error for o in outcomes]
    error = outcomes[-1].error
    assert error is not None and outcomes[-1].messages == []
    assert __import__("re").search(why, error.reason), error.reason


def test_every_device_of_a_node_with_numeric_states(dec: SparkplugDecoder) -> None:
    dec.decode("spBv1.0/plant1/NBIRTH/gw2", nbirth())
    tel, _ = dec.decode("spBv1.0/plant1/DBIRTH/gw2/cnc07", machine_birth(1, state=3)).messages
    assert str(tel.topic.path) == "plant1/assembly/line1/cnc07"
    assert tel.readings[0].state == "DOWN"  # type: ignore[union-attr]
    # Commands (ours, or another host's) are not data.
    assert dec.decode("spBv1.0/plant1/NCMD/gw2", nbirth()).messages == []


def test_our_edge_node_births_data_by_alias_and_a_new_sensor(tmp_path: object) -> None:
    from pathlib import Path

    from edge_agent.sparkplug_node import BdSeq, SparkplugNode
    from telemetry.topic import MachinePath

    file = Path(str(tmp_path)) / "buffer.db.bdseq"
    assert [BdSeq(file).next() for _ in range(3)] == [0, 1, 2]  # kept across restarts
    node = SparkplugNode("plant1", "gw", 2)
    path = MachinePath("plant1", "assembly", "line1", "press01")
    (nbirth,) = node.births()
    assert nbirth[0] == "spBv1.0/plant1/NBIRTH/gw" and decode_payload(nbirth[1]).seq == 0
    reading = {"ts": T0, "seq": 0, "state": "RUNNING", "total_count": 5, "good_count": 5}
    (birth,) = node.messages(path, Channel.TELEMETRY, [reading])
    assert birth[0] == "spBv1.0/plant1/DBIRTH/gw/press01"
    born = {m.name: m for m in decode_payload(birth[1]).metrics}
    assert born["Factory/Path"].value == "plant1/assembly/line1/press01"
    assert (born["Counts/Total"].datatype, born["State"].value, born["Reason"].value) == (
        UINT64,
        "RUNNING",
        "",
    )
    # Same values: an empty DDATA stamped with the reading's time; a change: by alias only.
    same, changed = node.messages(
        path,
        Channel.TELEMETRY,
        [{**reading, "ts": T0 + 1000}, {**reading, "ts": T0 + 2000, "total_count": 6}],
    )
    assert decode_payload(same[1]).metrics == () and decode_payload(same[1]).timestamp == T0 + 1000
    (m,) = decode_payload(changed[1]).metrics
    assert (m.name, m.alias, m.value) == (None, born["Counts/Total"].alias, 6)
    assert [decode_payload(p).seq for _, p in (birth, same, changed)] == [1, 2, 3]
    # A sensor the birth lacked: the device is born again, with it.
    (again,) = node.messages(
        path,
        Channel.TELEMETRY,
        [{**reading, "ts": T0 + 3000, "total_count": 6, "sensors": {"vibration_mm_s": 2.0}}],
    )
    assert again[0].split("/")[2] == "DBIRTH"
    assert "Sensors/vibration_mm_s" in {m.name for m in decode_payload(again[1]).metrics}
    # What our ingest makes of it: the same readings.
    dec = SparkplugDecoder(SparkplugConfig(groups=("plant1",)), root="factory")
    got = [dec.decode(t, p) for t, p in [nbirth, birth, same, changed, again]]
    totals = [
        m.readings[0].total_count
        for o in got
        for m in o.messages  # type: ignore[union-attr]
        if m.topic.channel is Channel.TELEMETRY
    ]
    assert totals == [5, 5, 6, 6] and all(o.error is None for o in got)
    death_topic, death = node.death()
    assert death_topic == "spBv1.0/plant1/NDEATH/gw"
    assert decode_payload(death).metrics[0].value == 2
    rebirth = encode_payload(T0, None, [Metric("Node Control/Rebirth", None, BOOLEAN, True)])
    assert node.command(rebirth) and not node.command(b"\xff")
