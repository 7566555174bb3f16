from __future__ import annotations

import json

import pytest

from telemetry.codec import DecodeError, decode, encode
from telemetry.models import EnergyReading, MachineState, TelemetryReading

TOPIC = "factory/v1/plant1/assembly/line1/m01/telemetry"
TS = 1_767_600_000_000


def reading(**override: object) -> dict[str, object]:
    r: dict[str, object] = {
        "ts": TS,
        "seq": 1,
        "state": "RUNNING",
        "total_count": 10,
        "good_count": 9,
    }
    r.update(override)
    return r


def reason(topic: str, payload: bytes, **kw: int) -> str:
    with pytest.raises(DecodeError) as info:
        decode(topic, payload, **kw)
    return info.value.reason


def test_single_reading_and_batch_decode() -> None:
    one = decode(TOPIC, json.dumps(reading()).encode())
    assert one.topic.path.machine == "m01"
    assert one.readings == (
        TelemetryReading(ts=TS, seq=1, state=MachineState.RUNNING, total_count=10, good_count=9),
    )
    many = decode(TOPIC, json.dumps([reading(seq=1), reading(seq=2, ts=TS + 1)]).encode())
    assert [r.seq for r in many.readings] == [1, 2]


def test_encode_round_trips() -> None:
    m = decode(
        TOPIC, json.dumps([reading(reason=None), reading(seq=2, sensors={"t_c": 1.5})]).encode()
    )
    again = decode(TOPIC, encode(m.readings))
    assert again.readings == m.readings


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"{not json", "not valid JSON"),
        (
            json.dumps(reading(total_count="12")).encode(),
            "total_count: Input should be a valid integer",
        ),
        (json.dumps(reading(total_count=12.5)).encode(), "total_count"),
        (
            json.dumps({k: v for k, v in reading().items() if k != "ts"}).encode(),
            "ts: Field required",
        ),
        (json.dumps(reading(ts=1_767_600_000)).encode(), "ts must be UTC epoch milliseconds"),
        (json.dumps(reading(state="RUN")).encode(), "state: Input should be"),
        (json.dumps(reading(good_cnt=3)).encode(), "good_cnt: Extra inputs are not permitted"),
        (json.dumps(reading(total_count=-1)).encode(), "total_count"),
        (json.dumps(reading(reason="a b")).encode(), "reason"),
        (
            json.dumps(reading(total_count=10, good_count=11)).encode(),
            "good_count 11 exceeds total_count 10",
        ),
        (json.dumps(reading(ts=True)).encode(), "ts"),
        (b"[]", "empty array"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"5", "Input should be an object"),
    ],
)
def test_bad_telemetry_is_rejected_with_a_reason(payload: bytes, expected: str) -> None:
    assert expected in reason(TOPIC, payload)


def test_nan_and_infinity_are_rejected() -> None:
    topic = TOPIC.replace("telemetry", "energy")
    for bad in (b"NaN", b"Infinity", b"-Infinity"):
        payload = b'{"ts":%d,"seq":1,"power_kw":%s,"energy_kwh":1.0}' % (TS, bad)
        assert "finite number" in reason(topic, payload)
    good = decode(topic, b'{"ts":%d,"seq":1,"power_kw":3,"energy_kwh":1.5}' % TS)
    assert good.readings == (EnergyReading(ts=TS, seq=1, power_kw=3.0, energy_kwh=1.5),)


def test_limits() -> None:
    big = json.dumps([reading(seq=i) for i in range(50)]).encode()
    assert "exceeds the limit" in reason(TOPIC, big, max_payload_bytes=100)
    assert "more than the limit of 10" in reason(TOPIC, big, max_readings=10)


def test_deeply_nested_json_is_rejected() -> None:
    payload = b"[" * 10_000 + b"]" * 10_000
    reason(TOPIC, payload)  # rejected, whatever the parser says, without a crash


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("other/v1/p/a/l/m/telemetry", "does not start with"),
        ("factory/v1/p/a/l/telemetry", "has 4 levels"),
        ("factory/v1/p/a/l/m/x/telemetry", "has 6 levels"),
        ("factory/v1/p/a/l+/m/telemetry", "invalid line 'l+'"),
        ("factory/v1/p/a/l/m#/telemetry", "invalid machine"),
        ("factory/v1/p/a b/l/m/telemetry", "invalid area"),
        ("factory/v1/p/a/l/" + "m" * 65 + "/telemetry", "invalid machine"),
        ("factory/v1/p/a/l/m/vibration", "unknown channel 'vibration'"),
    ],
)
def test_bad_topics_are_rejected(topic: str, expected: str) -> None:
    assert expected in reason(topic, json.dumps(reading()).encode())


def test_the_fast_path_is_byte_for_byte_the_wire_encoder() -> None:
    from random import Random

    from telemetry.codec import encode, energy_texts, join_texts, telemetry_texts

    rng = Random(7)
    n = 200
    ts = [TS + 1000 * k for k in range(n)]
    states = [rng.choice(["RUNNING", "IDLE", "DOWN"]) for _ in range(n)]
    totals = [rng.randrange(10**9) for _ in range(n)]
    goods = [t - rng.randrange(t + 1) for t in totals]
    cycles = [rng.uniform(0.1, 100) for _ in range(n)]
    products = [rng.choice(["A-1", "b_2"]) for _ in range(n)]
    reasons = [rng.choice([None, "jam", "no_material"]) for _ in range(n)]
    temps = [rng.gauss(60, 5) for _ in range(n)]
    vibs = [rng.expovariate(1.0) for _ in range(n)]
    for sensors in (None, {"temperature_c": temps, "vibration_mm_s": vibs}):
        dicts = []
        for k in range(n):
            d: dict[str, object] = {
                "ts": ts[k], "seq": 40 + k, "state": states[k], "total_count": totals[k],
                "good_count": goods[k], "ideal_cycle_s": cycles[k], "product": products[k],
            }  # fmt: skip
            if reasons[k] is not None:
                d["reason"] = reasons[k]
            if sensors:
                d["sensors"] = {"temperature_c": temps[k], "vibration_mm_s": vibs[k]}
            dicts.append(d)
        texts = telemetry_texts(40, ts, states, totals, goods, cycles, products, reasons, sensors)
        assert join_texts(texts) == encode(dicts)
        assert len(decode(TOPIC, join_texts(texts)).readings) == n
    power = [rng.uniform(-5, 50) for _ in range(n)]
    register = [rng.uniform(0, 1e6) for _ in range(n)]
    pf = [rng.uniform(-1, 1) for _ in range(n)]
    volts = [rng.uniform(380, 420) for _ in range(n)]
    short = [{"ts": t, "seq": k, "power_kw": power[k], "energy_kwh": register[k]}
             for k, t in enumerate(ts)]  # fmt: skip
    assert join_texts(energy_texts(0, ts, power, register)) == encode(short)
    full = [{**d, "power_factor": pf[k], "voltage_v": volts[k]} for k, d in enumerate(short)]
    assert join_texts(energy_texts(0, ts, power, register, pf, volts)) == encode(full)


def test_the_encoder_refuses_nan() -> None:
    from telemetry.codec import encode

    with pytest.raises(ValueError):
        encode([{"ts": TS, "seq": 1, "power_kw": float("nan"), "energy_kwh": 1.0}])
