"""PLC machines (Modbus, S7): counters across roll-over, values no PLC should hold refused
with a message naming their place in the map, and the map itself checked."""

from __future__ import annotations

from typing import Any

import pytest

from edge_agent.sources.plc import Counter, interpret
from edge_agent.sources.plc_config import ModbusMachine, S7Machine
from edge_agent.sources.registers import SanityError

WHERE = {"site": "plant1", "area": "assembly", "line": "line1", "machine": "m01"}


def modbus(**kw: Any) -> ModbusMachine:
    base: dict[str, Any] = {"host": "10.0.0.1", "state": {"address": 0},
                            "total_count": {"address": 1}, "good_count": {"address": 2},
                            "state_map": {"1": "RUNNING", "3": "DOWN"}}  # fmt: skip
    return ModbusMachine(**WHERE, **{**base, **kw})


def test_a_16_bit_counter_rolls_over_and_a_reset_stays_a_reset() -> None:
    c = Counter("uint16")
    assert [c(v) for v in (65_000, 65_535, 3, 10)] == [65_000, 65_535, 65_539, 65_546]
    r = Counter("uint32")
    assert [r(v) for v in (40_000, 0, 5)] == [40_000, 0, 5]  # a PLC restart, not a roll-over
    s = Counter("int16")
    assert [s(v) for v in (32_767, -32_768, -32_000)] == [32_767, 32_768, 33_536]


def test_values_no_plc_holds_name_their_place_in_the_map() -> None:
    sensor = {"address": 5, "type": "int16", "scale": 0.1}
    m = modbus(reason={"address": 3}, reason_map={"7": "jam"},
               ideal_cycle={"address": 4, "scale": 0.001},
               sensors={"temperature_c": sensor})  # fmt: skip
    counters = {f: Counter("uint16") for f in ("total_count", "good_count")}
    raw = {"state": 3, "total_count": 10, "good_count": 9, "reason": 7, "ideal_cycle": 2500,
           "sensor:temperature_c": 415}  # fmt: skip
    assert interpret(m, raw, counters, "modbus") == {
        "state": "3", "total_count": 10, "good_count": 9, "reason": "jam",
        "ideal_cycle_s": 2.5, "sensor:temperature_c": 41.5}  # fmt: skip
    assert interpret(m, {**raw, "reason": 12}, counters, "modbus")["reason"] == "code_12"
    assert interpret(m, {**raw, "reason": 0}, counters, "modbus")["reason"] is None
    for bad, words in (
        ({"state": 2.5}, "state = 2.5 at holding register 0 (uint16) is not a whole state code"),
        ({"total_count": 1.5}, "total_count = 1.5 at holding register 1 (uint16) is not a whole"),
        ({"ideal_cycle": 0}, "gives 0 s, not within 0..86,400 s"),
        ({"sensor:temperature_c": float("nan")}, "at holding register 5 (int16) is not a number"),
    ):
        with pytest.raises(SanityError, match=words.replace("(", r"\(").replace(")", r"\)")):
            interpret(m, {**raw, **bad}, counters, "modbus")


def test_the_map_is_checked() -> None:
    with pytest.raises(ValueError, match="a counter is an integer"):
        modbus(total_count={"address": 1, "type": "float32"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="state_map"):
        S7Machine(**WHERE, host="10.0.0.2", state={"address": 0}, total_count={"address": 2},
                  good_count={"address": 6}, state_map={})  # fmt: skip
    s7 = S7Machine(**WHERE, host="10.0.0.2", state={"address": 0, "db": 5, "type": "int16"},
                   total_count={"address": 2, "db": 5, "type": "int32"},
                   good_count={"address": 6, "area": "M", "type": "int32"},
                   state_map={"1": "RUNNING"})  # fmt: skip
    assert s7.total_count.where("s7") == "DB5.2 (int32)"
    assert s7.good_count.where("s7") == "M6 (int32)"
