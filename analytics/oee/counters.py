"""Cumulative counters: increments with resets and roll-overs, start-up coverage, and a
register's energy in the 15-minute blocks of a window."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from analytics.oee.accounts import Window
from core.clock import BLOCK_MS

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


def demand_edges(window: Window) -> np.ndarray:
    """Edges of the 15-minute blocks wholly inside the window."""
    first = -(-window.start_ms // BLOCK_MS) * BLOCK_MS
    return np.arange(first, window.end_ms + 1, BLOCK_MS, dtype=np.int64)


def block_kwh(
    t: np.ndarray, cum: np.ndarray, edges: np.ndarray, *, max_gap_ms: int | None = None
) -> np.ndarray:
    """Energy in each block between ``edges`` (the cumulative curve interpolated at them);
    NaN where the data does not cover the block: before the first reading, after the last,
    or across a gap between readings longer than ``max_gap_ms`` (never bridged by a guess)."""
    if len(edges) < 2:
        return np.zeros(0)
    if len(t) < 2:
        return np.full(len(edges) - 1, np.nan)
    at = np.interp(edges, t, cum)
    out = np.diff(at)
    covered = (edges[:-1] >= t[0]) & (edges[1:] <= t[-1])
    if max_gap_ms is not None:
        big = np.concatenate(([0], np.cumsum(np.diff(t) > max_gap_ms)))
        # Steps k with t[k] < block end and t[k + 1] > block start cross the block.
        lo = np.clip(np.searchsorted(t, edges[:-1], side="right") - 1, 0, len(t) - 1)
        hi = np.clip(np.searchsorted(t, edges[1:], side="left"), 0, len(t) - 1)
        covered &= big[hi] == big[lo]
    return np.where(covered, out, np.nan)
