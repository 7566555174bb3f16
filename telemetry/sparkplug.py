"""Sparkplug B (Eclipse Sparkplug 3.0) on the wire: topics, payloads and metric values.

Payloads are encoded and decoded by Google's protobuf runtime with the specification's own
schema: ``telemetry/sparkplug_b.proto`` (as Eclipse Tahu publishes it), compiled by protoc
into ``telemetry/sparkplug_b_pb2.py`` (``make sparkplug-proto`` regenerates it). Nothing
here parses protobuf by hand.

Topics are ``spBv1.0/{group_id}/{message_type}/{edge_node_id}[/{device_id}]``; message
types NBIRTH, NDEATH, DBIRTH, DDEATH, NDATA, DDATA, NCMD, DCMD (and STATE, a host
application's own). A value's protobuf field follows its datatype (Int8..UInt32: int_value,
Int64, UInt64, DateTime: long_value, Float: float_value, Double: double_value, Boolean,
String/Text/UUID: string_value, Bytes/File: bytes_value); signed integers travel as their
two's complement in the unsigned field. A metric whose value sits in another field than its
datatype says is refused with a :class:`SparkplugError` naming both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from telemetry.errors import WireError

NAMESPACE = "spBv1.0"
NODE_TYPES = frozenset({"NBIRTH", "NDEATH", "NDATA", "NCMD"})
DEVICE_TYPES = frozenset({"DBIRTH", "DDEATH", "DDATA", "DCMD"})
REBIRTH = "Node Control/Rebirth"
BDSEQ = "bdSeq"
# Sparkplug ids: UTF-8 without the topic's special characters.
_ID = re.compile(r"^[^/+#\x00]{1,128}$")

Value = int | float | bool | str | bytes | None

# Datatype codes of the specification (DataType in sparkplug_b.proto).
INT8, INT16, INT32, INT64 = 1, 2, 3, 4
UINT8, UINT16, UINT32, UINT64 = 5, 6, 7, 8
FLOAT, DOUBLE, BOOLEAN, STRING, DATETIME, TEXT, UUID = 9, 10, 11, 12, 13, 14, 15
BYTES, FILE = 17, 18
NAMES = {
    1: "Int8", 2: "Int16", 3: "Int32", 4: "Int64", 5: "UInt8", 6: "UInt16", 7: "UInt32",
    8: "UInt64", 9: "Float", 10: "Double", 11: "Boolean", 12: "String", 13: "DateTime",
    14: "Text", 15: "UUID", 16: "DataSet", 17: "Bytes", 18: "File", 19: "Template",
}  # fmt: skip
_FIELD = {
    INT8: "int_value", INT16: "int_value", INT32: "int_value", UINT8: "int_value",
    UINT16: "int_value", UINT32: "int_value", INT64: "long_value", UINT64: "long_value",
    DATETIME: "long_value", FLOAT: "float_value", DOUBLE: "double_value",
    BOOLEAN: "boolean_value", STRING: "string_value", TEXT: "string_value",
    UUID: "string_value", BYTES: "bytes_value", FILE: "bytes_value",
}  # fmt: skip
_PYTHON: dict[str, type] = {"int_value": int, "long_value": int, "float_value": float,
                            "double_value": float, "boolean_value": bool, "string_value": str,
                            "bytes_value": bytes}  # fmt: skip
_BITS = {INT8: 8, INT16: 16, INT32: 32, INT64: 64}
_RANGE = {UINT8: 1 << 8, UINT16: 1 << 16, UINT32: 1 << 32, UINT64: 1 << 64}


class SparkplugError(WireError):
    """A topic, payload or metric that is not valid Sparkplug B; the message says why."""


@dataclass(frozen=True, slots=True)
class Topic:
    group: str
    type: str
    node: str
    device: str | None = None

    def __str__(self) -> str:
        tail = f"/{self.device}" if self.device is not None else ""
        return f"{NAMESPACE}/{self.group}/{self.type}/{self.node}{tail}"

    @property
    def node_key(self) -> tuple[str, str]:
        return (self.group, self.node)


def parse_topic(topic: str) -> Topic:
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != NAMESPACE:
        raise SparkplugError(f"not a Sparkplug B topic: {topic[:200]!r} "
                             f"(expected {NAMESPACE}/GROUP/TYPE/NODE[/DEVICE])")  # fmt: skip
    group, kind, node = parts[1], parts[2], parts[3]
    device = parts[4] if len(parts) == 5 else None
    if len(parts) > 5:
        raise SparkplugError(f"too many topic levels: {topic[:200]!r}")
    if kind in NODE_TYPES and device is not None:
        raise SparkplugError(f"{kind} has no device level: {topic[:200]!r}")
    if kind in DEVICE_TYPES and device is None:
        raise SparkplugError(f"{kind} needs a device level: {topic[:200]!r}")
    if kind not in NODE_TYPES | DEVICE_TYPES:
        raise SparkplugError(f"unknown message type {kind[:32]!r} in {topic[:200]!r}")
    for what, value in (("group_id", group), ("edge_node_id", node), ("device_id", device)):
        if value is not None and not _ID.match(value):
            raise SparkplugError(f"{what} {value[:64]!r} is empty, too long or has a "
                                 "character Sparkplug forbids")  # fmt: skip
    return Topic(group, kind, node, device)


@dataclass(frozen=True, slots=True)
class Metric:
    name: str | None
    alias: int | None
    datatype: int | None
    value: Value
    timestamp: int | None = None
    is_null: bool = False


@dataclass(frozen=True, slots=True)
class Payload:
    timestamp: int | None
    seq: int | None
    metrics: tuple[Metric, ...]


def _pb() -> Any:
    from telemetry import sparkplug_b_pb2

    return sparkplug_b_pb2


def _signed(raw: int, bits: int) -> int:
    raw &= (1 << bits) - 1
    return raw - (1 << bits) if raw >= 1 << (bits - 1) else raw


def _value(m: Any, datatype: int | None) -> Value:
    field = m.WhichOneof("value")
    if m.is_null or field is None:
        return None
    label = m.name or f"alias {m.alias}"
    if datatype is None:  # a data message without the datatype: the birth's applies later
        raw = getattr(m, field)
        return raw if field != "extension_value" else None
    expected = _FIELD.get(datatype)
    if expected is None:
        kind = NAMES.get(datatype, datatype)
        raise SparkplugError(f"metric {label!r}: datatype {kind} is not supported (only "
                             "numbers, booleans, strings and bytes)")  # fmt: skip
    if field != expected:
        raise SparkplugError(f"metric {label!r}: datatype {NAMES.get(datatype, datatype)} but "
                             f"the value is in {field} (expected {expected})")  # fmt: skip
    raw = getattr(m, field)
    if datatype in _BITS:
        return _signed(int(raw), _BITS[datatype])
    if datatype in _RANGE and not 0 <= int(raw) < _RANGE[datatype]:
        raise SparkplugError(f"metric {label!r}: {raw} is out of range for "
                             f"{NAMES[datatype]}")  # fmt: skip
    return raw  # type: ignore[no-any-return]


def typed(value: Value, datatype: int, label: str) -> Value:
    """A value decoded without its datatype (a data message), read as the birth's datatype."""
    if value is None:
        return None
    field = _FIELD.get(datatype)
    kind = _PYTHON.get(field or "")
    if kind is None or not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SparkplugError(f"metric {label!r}: born as {NAMES.get(datatype, datatype)} but "
                             f"sent as {type(value).__name__}")  # fmt: skip
    if datatype in _BITS:
        return _signed(int(value), _BITS[datatype])
    return value


def decode_payload(data: bytes) -> Payload:
    """A Sparkplug B payload; metrics without a datatype keep their raw value (their
    datatype comes from the birth: :func:`typed`)."""
    pb = _pb()
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

    try:
        p = pb.Payload.FromString(data)
    except DecodeError as exc:
        raise SparkplugError(f"not a Sparkplug B payload (protobuf: {exc})") from None
    metrics = []
    for m in p.metrics:
        datatype = m.datatype if m.HasField("datatype") else None
        metrics.append(Metric(
            name=m.name if m.HasField("name") else None,
            alias=m.alias if m.HasField("alias") else None,
            datatype=datatype,
            value=_value(m, datatype),
            timestamp=m.timestamp if m.HasField("timestamp") else None,
            is_null=m.is_null,
        ))  # fmt: skip
    return Payload(
        timestamp=p.timestamp if p.HasField("timestamp") else None,
        seq=p.seq if p.HasField("seq") else None,
        metrics=tuple(metrics),
    )


def encode_payload(timestamp: int, seq: int | None, metrics: list[Metric]) -> bytes:
    """A Sparkplug B payload; each metric's value goes into the field its datatype names."""
    pb = _pb()
    p = pb.Payload()
    p.timestamp = timestamp
    if seq is not None:
        p.seq = seq
    for metric in metrics:
        m = p.metrics.add()
        if metric.name is not None:
            m.name = metric.name
        if metric.alias is not None:
            m.alias = metric.alias
        if metric.timestamp is not None:
            m.timestamp = metric.timestamp
        if metric.datatype is None:
            raise SparkplugError(f"metric {metric.name!r}: a datatype is needed to encode it")
        m.datatype = metric.datatype
        if metric.value is None:
            m.is_null = True
            continue
        field = _FIELD[metric.datatype]
        value = metric.value
        if metric.datatype in _BITS:
            value = int(value) & ((1 << (64 if field == "long_value" else 32)) - 1)
        try:
            setattr(m, field, value)
        except (TypeError, ValueError) as exc:
            raise SparkplugError(f"metric {metric.name!r}: {metric.value!r} does not fit "
                                 f"{NAMES.get(metric.datatype)} ({exc})") from None  # fmt: skip
    return p.SerializeToString()  # type: ignore[no-any-return]
