"""Cumulative counters: increments with resets and roll-overs, and start-up coverage."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def counter_increments(
    values: npt.NDArray[np.generic], rollover: float | None = None
) -> FloatArray:
    """Increments of a cumulative counter. A decrease is a roll-over when ``rollover`` is
    known and the wrapped increment is plausible (less than half the range), else a reset
    after which the new value counts."""
    v = values.astype(np.float64, copy=False)
    d = np.diff(v)
    if rollover is None:
        out: FloatArray = np.where(d < 0, v[1:], d)
        return out
    wrapped = d + rollover
    out = np.where(d >= 0, d, np.where(wrapped < rollover / 2, wrapped, v[1:]))
    return out


def increments(values: npt.NDArray[np.generic], rollover: float | None = None) -> FloatArray:
    """:func:`counter_increments`, in one pass when nothing decreases (the usual case)."""
    d: FloatArray = np.subtract(values[1:], values[:-1], dtype=np.float64)
    if (d < 0).any():
        return counter_increments(values, rollover)
    return d


def startup_coverage(units: FloatArray, setup_ends: FloatArray, n: int) -> FloatArray:
    """How many start-up units (the first ``n`` after each changeover) have been made by
    the time ``units`` units are made (both on the cumulative axis)."""
    if n <= 0 or len(setup_ends) == 0:
        return np.zeros(len(units))
    # Merge overlapping start-up ranges (s, s + n].
    starts, ends = [float(setup_ends[0])], [float(setup_ends[0]) + n]
    for s in setup_ends[1:].tolist():
        if s <= ends[-1]:
            ends[-1] = max(ends[-1], s + n)
        else:
            starts.append(s)
            ends.append(s + n)
    s_arr, e_arr = np.array(starts), np.array(ends)
    full = np.concatenate(([0.0], np.cumsum(e_arr - s_arr)))
    k = np.searchsorted(s_arr, units, side="left")  # ranges starting before `units`
    prev = np.maximum(k - 1, 0)
    partial = np.where(k > 0, np.clip(units - s_arr[prev], 0, e_arr[prev] - s_arr[prev]), 0.0)
    # Ranges before `prev` are wholly made (they end before `prev` starts).
    out: FloatArray = np.where(k > 0, full[prev] + partial, 0.0)
    return out
