"""Register maps: decoding every type and order, presets, and the sanity checks."""

from __future__ import annotations

import itertools

import pytest
from pydantic import ValidationError

from edge_agent.sources.devices import ModbusMeter
from edge_agent.sources.registers import (
    PRESETS,
    RegisterSpec,
    SanityError,
    check_energy,
    decode,
    encode,
)


@pytest.mark.parametrize(
    ("kind", "word", "byte"),
    list(itertools.product(
        ["int16", "uint16", "int32", "uint32", "float32", "int64", "uint64"],
        ["big", "little"],
        ["big", "little"],
    )),
)  # fmt: skip
def test_every_type_and_order_round_trips(kind: str, word: str, byte: str) -> None:
    spec = RegisterSpec(field="energy_kwh", address=10, type=kind, word_order=word, byte_order=byte,
                        scale=0.1, offset=5.0)  # type: ignore[arg-type]  # fmt: skip
    assert decode(spec, encode(spec, 1234.5)) == pytest.approx(1234.5, abs=0.1)


def test_known_register_values() -> None:
    # 0x42D10000 is float32 104.5; an SDM630 sends the high word first.
    spec = RegisterSpec(field="energy_kwh", address=72, table="input", type="float32")
    assert decode(spec, [0x42D1, 0x0000]) == 104.5
    little = RegisterSpec(field="energy_kwh", address=0, type="float32", word_order="little")
    assert decode(little, [0x0000, 0x42D1]) == 104.5
    wh = RegisterSpec(field="energy_kwh", address=0, type="uint32", scale=0.001)
    assert decode(wh, [0x0001, 0x0000]) == pytest.approx(65.536)  # 65,536 Wh
    signed = RegisterSpec(field="power_kw", address=0, type="int16")
    assert decode(signed, [0xFFFF]) == -1.0
    with pytest.raises(ValueError, match="expected 2 registers"):
        decode(spec, [1])


@pytest.mark.parametrize(
    ("spec", "words", "value"),
    [
        # Written by hand from the IEEE 754 and two's complement layouts, not by our encoder.
        (dict(type="float32", byte_order="little"), [0xD142, 0x0000], 104.5),  # 42 D1 00 00
        (dict(type="float32"), [0x4366, 0x8000], 230.5),  # a phase voltage
        (dict(type="float32", word_order="little"), [0x8000, 0x4366], 230.5),
        (dict(type="int32"), [0xFFFF, 0xFFFE], -2.0),
        (dict(type="uint32", word_order="little"), [0x86A0, 0x0001], 100_000.0),
        (dict(type="int64"), [0xFFFF, 0xFFFF, 0xFFFF, 0xFC18], -1000.0),
        (dict(type="uint64", scale=0.01), [0x0000, 0x0000, 0x0001, 0x86A0], 1000.0),
        (dict(type="uint16", scale=0.1, offset=-40.0), [0x0258], 20.0),  # 600 x 0.1 - 40
    ],
)  # fmt: skip
def test_hand_written_register_words(
    spec: dict[str, object], words: list[int], value: float
) -> None:
    full = RegisterSpec(field="energy_kwh", address=0, **spec)  # type: ignore[arg-type]
    assert decode(full, words) == pytest.approx(value)


def test_presets_are_complete_and_distinct() -> None:
    for name, specs in PRESETS.items():
        fields = [s.field for s in specs]
        assert "energy_kwh" in fields and "power_kw" in fields, name
        spans = sorted((s.table, s.address, s.address + s.width) for s in specs)
        for a, b in itertools.pairwise(spans):
            assert a[0] != b[0] or a[2] <= b[1], f"{name}: overlapping registers"


def test_sanity_checks_catch_a_wrong_map() -> None:
    good = {"energy_kwh": 12345.6, "power_kw": 18.4, "power_factor": 0.93, "voltage_v": 231.0}
    check_energy(good)
    check_energy({**good, "energy_kwh": 0.5}, previous_kwh=12345.0)  # a reset to ~0 is fine
    # float32 bits read as int32 (the wrong type): an absurd power
    f32 = RegisterSpec(field="power_kw", address=0, type="float32", scale=0.001)
    i32 = RegisterSpec(field="power_kw", address=0, type="int32", scale=0.001)
    as_int = decode(i32, encode(f32, 18.4))
    cases = {
        "power_kw": {**good, "power_kw": as_int},
        "energy_kwh = -": {**good, "energy_kwh": -3.0},
        "vanishingly small": {**good, "energy_kwh": 2.4e-41},  # float32 with swapped words
        "power_factor": {**good, "power_factor": 1.7},
        "voltage_v": {**good, "voltage_v": -5.0},
        "is nan": {**good, "power_kw": float("nan")},
    }
    for expected, values in cases.items():
        with pytest.raises(SanityError, match=r"check the register map|nan") as info:
            check_energy(values)
        assert expected in str(info.value), (expected, str(info.value))
    with pytest.raises(SanityError, match="went back"):
        check_energy({**good, "energy_kwh": 12000.0}, previous_kwh=12345.6)


def test_meter_configuration_is_checked() -> None:
    where = {"site": "s", "area": "a", "line": "l", "machine": "m"}
    assert ModbusMeter(**where, host="h", preset="sdm630").register_map == PRESETS["sdm630"]
    with pytest.raises(ValidationError, match="unknown preset"):
        ModbusMeter(**where, host="h", preset="nope")
    with pytest.raises(ValidationError, match="energy_kwh and power_kw"):
        ModbusMeter(**where, host="h", registers=(RegisterSpec(field="voltage_v", address=0),))
