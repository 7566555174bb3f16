"""Line protocol: escaping is checked by parsing the result back with an independent parser."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.codec import decode
from telemetry.lineprotocol import LineProtocolError, format_value, line, message_lines


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, cur, i = [], "", 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur += text[i : i + 2]
            i += 2
            continue
        if ch == sep:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    parts.append(cur)
    return parts


def _unescape(text: str) -> str:
    out, i = "", 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in ", =":
            out += text[i + 1]
            i += 2
        else:
            out += text[i]
            i += 1
    return out


def parse(point: str) -> tuple[str, dict[str, str], dict[str, object], int]:
    """A small parser following the InfluxDB line protocol reference."""
    assert "\n" not in point
    assert not point.startswith("#"), "a point must not read as a comment"
    i = 0
    key = ""
    while point[i] != " ":
        if point[i] == "\\" and i + 1 < len(point):
            key += point[i : i + 2]
            i += 2
        else:
            key += point[i]
            i += 1
    i += 1
    head, *tag_parts = _split_unescaped(key, ",")
    tags = {}
    for part in tag_parts:
        k, v = _split_unescaped(part, "=")
        tags[_unescape(k)] = _unescape(v)
    fields: dict[str, object] = {}
    while True:
        fkey = ""
        while point[i] != "=":
            if point[i] == "\\":
                fkey += point[i : i + 2]
                i += 2
            else:
                fkey += point[i]
                i += 1
        i += 1
        value: object
        if point[i] == '"':
            i += 1
            text = ""
            while point[i] != '"':
                if point[i] == "\\" and point[i + 1] in '"\\':
                    text += point[i + 1]
                    i += 2
                else:
                    text += point[i]
                    i += 1
            i += 1
            value = text
        else:
            j = i
            while point[j] not in ", ":
                j += 1
            raw, i = point[i:j], j
            if raw.endswith("i"):
                value = int(raw[:-1])
            elif raw in ("true", "false"):
                value = raw == "true"
            else:
                value = float(raw)
        fields[_unescape(fkey)] = value
        if point[i] == " ":
            break
        i += 1
    return _unescape(head), tags, fields, int(point[i + 1 :])


names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\\"),
    min_size=1,
    max_size=20,
).filter(lambda s: not s.endswith("\\") and not s.startswith("#"))
strings = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=1000, deadline=None)
@given(
    measurement=names,
    tags=st.dictionaries(names, names, max_size=4),
    text=strings,
    number=st.floats(allow_nan=False, allow_infinity=False),
    count=st.integers(-(2**63), 2**63 - 1),
    ts=st.integers(0, 2**62),
)
def test_any_names_and_values_round_trip(
    measurement: str, tags: dict[str, str], text: str, number: float, count: int, ts: int
) -> None:
    fields = [("s", text, "str"), ("f", number, "float"), ("n", count, "int"), ("b", True, "bool")]
    point = line(measurement, tags, fields, ts)  # type: ignore[arg-type]
    assert "\n" not in point, "one reading can never become two points"
    m, t, f, parsed_ts = parse(point)
    assert m == measurement
    assert t == tags
    assert f["s"] == text.replace("\r", " ").replace("\n", " ")
    assert f["f"] == number
    assert f["n"] == count
    assert f["b"] is True
    assert parsed_ts == ts


def test_types_never_change_between_writes() -> None:
    assert format_value(5, "float") == "5.0"
    assert format_value(5, "int") == "5i"
    with pytest.raises(LineProtocolError):
        format_value(5.5, "int")
    with pytest.raises(LineProtocolError):
        format_value(float("nan"), "float")
    with pytest.raises(LineProtocolError):
        line("m", {"a\nb": "x"}, [("f", 1.0, "float")], 1)
    with pytest.raises(LineProtocolError):
        line("m\\ ", {}, [("f", 1.0, "float")], 1)


def test_message_lines_follow_the_layout() -> None:
    payload = json.dumps(
        [
            {
                "ts": 1_767_600_000_000,
                "seq": 3,
                "state": "DOWN",
                "reason": "jam",
                "total_count": 10,
                "good_count": 9,
                "ideal_cycle_s": 30,
                "sensors": {"temp_c": 41.5},
            },
        ]
    ).encode()
    m = decode("factory/v1/p1/a1/l1/m1/telemetry", payload)
    (point,) = message_lines(m)
    assert point == (
        'telemetry,area=a1,line=l1,machine=m1,site=p1 seq=3i,state="DOWN",reason="jam",'
        "total_count=10i,good_count=9i,ideal_cycle_s=30.0,sensor_temp_c=41.5 1767600000000"
    )
