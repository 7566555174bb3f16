"""Modbus register maps: decoding raw 16-bit registers into values, and sanity checks.

Pure functions, so that a register map can be checked without a device. A
wrong map (wrong type, word or byte order, address) usually yields values that
are physically absurd; :func:`check_energy` catches those with a reason that
points at the map.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edge_agent.errors import EdgeError

RegisterType = Literal["int16", "uint16", "int32", "uint32", "float32", "int64", "uint64"]
EnergyField = Literal["energy_kwh", "power_kw", "power_factor", "voltage_v"]

_WIDTH = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "int64": 4, "uint64": 4}
_FORMAT = {
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "float32": "f",
    "int64": "q",
    "uint64": "Q",
}


class RegisterSpec(BaseModel):
    """Where one value lives and how to read it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: EnergyField
    address: int = Field(ge=0, le=65_535, description="0-based register address")
    table: Literal["holding", "input"] = "holding"
    type: RegisterType = "float32"
    word_order: Literal["big", "little"] = Field(
        default="big", description="big: the first register holds the most significant word"
    )
    byte_order: Literal["big", "little"] = Field(
        default="big", description="byte order inside each 16-bit register (Modbus: big)"
    )
    scale: float = Field(default=1.0, description="value = raw * scale + offset, in our unit")
    offset: float = 0.0

    @property
    def width(self) -> int:
        return _WIDTH[self.type]


def decode(spec: RegisterSpec, registers: Sequence[int]) -> float:
    """The value of ``spec`` from its registers (exactly ``spec.width`` of them)."""
    if len(registers) != spec.width:
        raise ValueError(f"{spec.field}: expected {spec.width} registers, got {len(registers)}")
    raw = words_value(spec.type, spec.word_order, spec.byte_order, registers)
    return float(raw) * spec.scale + spec.offset


def words_value(
    type_: RegisterType, word_order: str, byte_order: str, registers: Sequence[int]
) -> int | float:
    """The raw number in 16-bit registers (``type_``'s width of them), as the device wrote it."""
    words = list(registers)
    if word_order == "little":
        words.reverse()
    raw = b"".join(w.to_bytes(2, "big" if byte_order == "big" else "little") for w in words)
    (value,) = struct.unpack(">" + _FORMAT[type_], raw)
    return value  # type: ignore[no-any-return]


def encode(spec: RegisterSpec, value: float) -> list[int]:
    """The registers a device would hold for ``value`` (for simulated devices and tests)."""
    raw_value = (value - spec.offset) / spec.scale
    fmt = _FORMAT[spec.type]
    number: float | int = raw_value if spec.type == "float32" else round(raw_value)
    raw = struct.pack(">" + fmt, number)
    words = [
        int.from_bytes(raw[i : i + 2], "big" if spec.byte_order == "big" else "little")
        for i in range(0, len(raw), 2)
    ]
    if spec.word_order == "little":
        words.reverse()
    return words


# Presets for common meters. Addresses are 0-based (register 30073 of a manual is
# input register 72 here). Units are converted to ours by scale.
PRESETS: dict[str, tuple[RegisterSpec, ...]] = {
    # Eastron SDM630 (Modbus manual v2): input registers, IEEE 754 float32, big-endian.
    "sdm630": (
        RegisterSpec(field="voltage_v", address=0, table="input", type="float32"),
        RegisterSpec(field="power_kw", address=52, table="input", type="float32", scale=0.001),
        RegisterSpec(field="power_factor", address=62, table="input", type="float32"),
        RegisterSpec(field="energy_kwh", address=72, table="input", type="float32"),
    ),
    # A generic map many gateways offer: holding registers, float32, kW and kWh.
    "generic-float32": (
        RegisterSpec(field="power_kw", address=0, type="float32"),
        RegisterSpec(field="energy_kwh", address=2, type="float32"),
        RegisterSpec(field="power_factor", address=4, type="float32"),
        RegisterSpec(field="voltage_v", address=6, type="float32"),
    ),
    # Integer meters: energy as uint32 in Wh (scale 0.001 -> kWh), power as int32 in W.
    "generic-int32-wh": (
        RegisterSpec(field="power_kw", address=0, type="int32", scale=0.001),
        RegisterSpec(field="energy_kwh", address=2, type="uint32", scale=0.001),
    ),
}

MAX_POWER_KW = 100_000.0  # a 100 MW machine meter is not a machine meter
MAX_ENERGY_KWH = 1e10


class SanityError(EdgeError, ValueError):
    """Values that no real meter reports: most likely a wrong register map."""


def check_energy(values: Mapping[str, float], previous_kwh: float | None = None) -> None:
    """Raise :class:`SanityError` for physically absurd meter values."""
    hint = "check the register map (type, word order, byte order, address, scale)"
    for name, v in values.items():
        if not math.isfinite(v):
            raise SanityError(f"{name} is {v}: {hint}")
        if 0 < abs(v) < 1e-30:
            # What a float32 read with the wrong word order usually looks like.
            raise SanityError(f"{name} = {v:g} is vanishingly small: {hint}")
    kwh = values.get("energy_kwh")
    if kwh is None:
        raise SanityError("the register map has no energy_kwh: a meter must report its register")
    if kwh < 0 or kwh > MAX_ENERGY_KWH:
        raise SanityError(f"energy_kwh = {kwh:g} is outside 0..{MAX_ENERGY_KWH:g}: {hint}")
    power = values.get("power_kw")
    if power is not None and abs(power) > MAX_POWER_KW:
        raise SanityError(f"power_kw = {power:g} is beyond ±{MAX_POWER_KW:g} kW: {hint}")
    pf = values.get("power_factor")
    if pf is not None and not -1.0 <= pf <= 1.0:
        raise SanityError(f"power_factor = {pf:g} is outside -1..1: {hint}")
    volts = values.get("voltage_v")
    if volts is not None and not 0.0 <= volts <= 100_000.0:
        raise SanityError(f"voltage_v = {volts:g} is outside 0..100,000 V: {hint}")
    if previous_kwh is not None and kwh < previous_kwh and kwh > 0.01 * previous_kwh:
        # A register falls back to about zero on a reset or roll-over; a small step
        # backwards is a misread (e.g. word order) and is refused.
        raise SanityError(
            f"energy_kwh went back from {previous_kwh:g} to {kwh:g} without a reset: {hint}"
        )
