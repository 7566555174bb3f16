"""Energy performance indicators (after ISO 50006): intensity, idle share, base load, peak
demand, CO2e, non-production load and an energy baseline that flags deviations.

- kWh come from register increments (resets and known roll-overs handled), or from
  power x time where a meter has no register; energy by state from power x time.
- Peak demand is the highest mean power over 15-minute blocks aligned to the clock
  and wholly inside the window; for a group, machines are summed block by block
  (the group's own peak, not the sum of each machine's peak).
- CO2e = kWh x the grid emission factor (kg CO2e per kWh = t CO2e per MWh).
- Baseline: a least-squares line ``kWh = a + b x units`` over the periods of the
  window (hours by default), fitted again without the periods far off it; a period
  is flagged when it lies more than 3 robust standard deviations (at least 1 % of
  the mean period's energy) from the line. ``a`` is the base energy per period (what the
  plant uses producing nothing), ``b`` the energy per unit. The energy performance
  indicator (EnPI) compares the last quarter of the periods with a line fitted on
  the first three quarters: actual / expected; below 1 is better.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.clock import BLOCK_MS


@dataclass(frozen=True, slots=True)
class Peak:
    kw: float
    block_start_ms: int

    def as_dict(self) -> dict[str, Any]:
        return {"kw": self.kw, "block_start_ms": self.block_start_ms}


def peak(blocks: np.ndarray, edges: np.ndarray) -> Peak | None:
    if len(blocks) == 0 or np.isnan(blocks).all():
        return None
    # The first of the blocks within rounding of the highest: the same block whichever way
    # the blocks were summed (from stored accounts or from one read of the window).
    top = float(np.nanmax(blocks))
    i = int(np.flatnonzero(np.nan_to_num(blocks, nan=-np.inf) >= top - 1e-9 * abs(top))[0])
    return Peak(top / (BLOCK_MS / 3.6e6), int(edges[i]))


def group_blocks(per_machine: Iterable[np.ndarray], n: int) -> np.ndarray:
    """Sum machines block by block (a machine without data in a block adds nothing)."""
    out = np.zeros(n)
    for b in per_machine:
        out += np.nan_to_num(b)
    return out


@dataclass(frozen=True, slots=True)
class Baseline:
    intercept_kwh: float
    slope_kwh_per_unit: float
    r2: float | None
    sigma_kwh: float
    enpi: float | None
    periods: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": "kWh = a + b x units, least squares over the periods",
            "intercept_kwh_per_period": self.intercept_kwh,
            "slope_kwh_per_unit": self.slope_kwh_per_unit,
            "r2": self.r2,
            "robust_sigma_kwh": self.sigma_kwh,
            "enpi_last_quarter": self.enpi,
            "deviations": [p for p in self.periods if p["flagged"]],
            "periods": len(self.periods),
        }


def _fit(units: np.ndarray, kwh: np.ndarray) -> tuple[float, float]:
    if np.ptp(units) == 0:
        return float(kwh.mean()), 0.0
    b, a = np.polyfit(units, kwh, 1)
    return float(a), float(b)


def fit_baseline(rows: Sequence[tuple[str, float, float]], *, k: float = 3.0) -> Baseline | None:
    """``rows``: (period label, units made, kWh) for each period with data."""
    if len(rows) < 4:
        return None
    units = np.array([r[1] for r in rows], dtype=np.float64)
    kwh = np.array([r[2] for r in rows], dtype=np.float64)
    # Fit, set aside what lies far off, fit again: one bad hour must not bend the line.
    # The spread has a floor of 1 % of the mean, so that a nearly perfect fit does not
    # flag rounding.
    flagged = np.zeros(len(rows), dtype=bool)
    for _ in range(2):
        if (~flagged).sum() < 2:  # nothing near a line: fit them all
            flagged[:] = False
        a, b = _fit(units[~flagged], kwh[~flagged])
        expected = a + b * units
        resid = kwh - expected
        kept = resid[~flagged]
        sigma = max(
            float(1.4826 * np.median(np.abs(kept - np.median(kept)))), 0.01 * float(kwh.mean())
        )
        flagged = np.abs(resid) > k * sigma
    total = float(((kwh - kwh.mean()) ** 2).sum())
    r2 = 1 - float((resid**2).sum()) / total if total > 0 else None
    enpi = None
    if len(rows) >= 8:
        cut = len(rows) * 3 // 4
        a0, b0 = _fit(units[:cut], kwh[:cut])
        predicted = float((a0 + b0 * units[cut:]).sum())
        enpi = float(kwh[cut:].sum()) / predicted if predicted > 0 else None
    periods = [
        {"period": r[0], "units": r[1], "kwh": r[2], "expected_kwh": float(e),
         "deviation_kwh": float(d), "flagged": bool(f)}
        for r, e, d, f in zip(rows, expected, resid, flagged, strict=True)
    ]  # fmt: skip
    return Baseline(a, b, r2, sigma, enpi, periods)


def co2e_kg(kwh: float | None, factor: float) -> float | None:
    return None if kwh is None else kwh * factor


def site_energy(meter_kwh: float | None, peak_15min: Peak | None, machines_kwh: float,
                factor: float) -> dict[str, Any]:  # fmt: skip
    """A site's main meter over a window: total, machines, non-production, peak demand."""
    return {
        "energy_kwh": meter_kwh,
        "machines_kwh": machines_kwh,
        "non_production_kwh": None if meter_kwh is None else meter_kwh - machines_kwh,
        "sub_metered_share": None if not meter_kwh else machines_kwh / meter_kwh,
        "peak_15min": None if peak_15min is None else peak_15min.as_dict(),
        "co2e_kg": co2e_kg(meter_kwh, factor),
    }
