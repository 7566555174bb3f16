"""What a reader returns: each machine's readings of one window as numpy arrays.

Every backend hands its rows here as columns (time first, then the fields asked
for); they come back sorted by device time, states as integer codes, reasons as
indices into a small table of names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np

from plant.oee import UNSPECIFIED
from telemetry.layout import ENERGY, TELEMETRY
from telemetry.models import STATE_CODES
from telemetry.topic import MachinePath

_CODE = {s.value: c for s, c in STATE_CODES.items()}

TEL_FIELDS = ("state", "total_count", "good_count", "ideal_cycle_s", "reason")
"""The telemetry fields the analytics read (in this order)."""
EN_FIELDS = ("energy_kwh", "power_kw")
"""The energy fields the analytics read (in this order)."""
TEXT_FIELDS = frozenset({"state", "reason"})
assert set(TEL_FIELDS) <= set(TELEMETRY.field_names)
assert set(EN_FIELDS) <= set(ENERGY.field_names)


@dataclass(frozen=True, slots=True)
class TelemetrySeries:
    t_ms: np.ndarray
    state: np.ndarray  # int8 codes of MachineState, -1 for unknown
    total_count: np.ndarray
    good_count: np.ndarray
    ideal_cycle_s: np.ndarray  # NaN where not reported
    reason: np.ndarray  # index into ``reasons``
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EnergySeries:
    t_ms: np.ndarray
    energy_kwh: np.ndarray
    power_kw: np.ndarray


@dataclass(frozen=True, slots=True)
class MachineData:
    telemetry: TelemetrySeries | None
    energy: EnergySeries | None


SensorSeries = tuple[np.ndarray, np.ndarray]
"""(times in ms, values) of one process sensor of one machine."""

Columns = list[Sequence[Any] | np.ndarray]
"""One machine's rows as columns: time first, then the fields asked for."""


def _sorted(cols: Columns) -> tuple[np.ndarray, np.ndarray | None]:
    t = np.array(cols[0], dtype=np.int64)
    if len(t) > 1 and (np.diff(t) < 0).any():
        order = np.argsort(t, kind="stable")
        return t[order], order
    return t, None


def _col(values: Sequence[Any] | np.ndarray, dtype: type, order: np.ndarray | None) -> np.ndarray:
    arr: np.ndarray = np.array(values, dtype=dtype)
    return arr if order is None else arr[order]


def telemetry_series(cols: Columns) -> TelemetrySeries:
    t, order = _sorted(cols)
    states, totals, goods, cycles, reasons = cols[1:6]
    names = sorted({r for r in set(reasons) if r is not None} | {UNSPECIFIED})
    index: dict[str | None, int] = {name: k for k, name in enumerate(names)}
    index[None] = index[UNSPECIFIED]
    return TelemetrySeries(
        t_ms=t,
        state=_col(list(map(_CODE.get, states, repeat(-1))), np.int8, order),
        total_count=np.nan_to_num(_col(totals, np.float64, order)).astype(np.int64),
        good_count=np.nan_to_num(_col(goods, np.float64, order)).astype(np.int64),
        ideal_cycle_s=_col(cycles, np.float64, order),
        reason=_col([index[r] for r in reasons], np.int64, order),
        reasons=tuple(names),
    )


def energy_series(cols: Columns) -> EnergySeries:
    t, order = _sorted(cols)
    return EnergySeries(
        t_ms=t,
        energy_kwh=_col(cols[1], np.float64, order),
        power_kw=_col(cols[2], np.float64, order),
    )


def sensor_series(cols: Columns) -> SensorSeries:
    t, order = _sorted(cols)
    return t, _col(cols[1], np.float64, order)


def assemble(
    tel: dict[MachinePath, Columns], en: dict[MachinePath, Columns]
) -> dict[MachinePath, MachineData]:
    """Each machine's telemetry and energy columns as series."""
    out = {}
    for path in sorted(set(tel) | set(en)):
        out[path] = MachineData(
            telemetry=telemetry_series(tel[path]) if path in tel else None,
            energy=energy_series(en[path]) if path in en else None,
        )
    return out
