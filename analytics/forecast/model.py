"""The load model: the 15-minute mean power of one target (a site's main meter, a line, or
the rest of a site's load) from its metered history and its calendar.

Model, for each 15-minute block ``t``::

    kW(t) = x(t) . b  +  s(t)  +  e(t)

- ``x(t)``, the **calendar features**: the share of the block inside a planned shift (the
  production plan applied, for a line), the share inside a break, two daily harmonics of
  the local clock time (sin and cos of 1 and 2 cycles a day) and a constant. ``b`` is fitted
  by least squares (a small ridge keeps it defined when a feature never changes). These
  carry what the calendar changes: a holiday, an added or cut shift, a plan.
- ``s(t)``, the **seasonal profile** of what the features leave: the mean residual of the
  same regime (in production or not), of the same 15 minutes of the day, and of the same
  15 minutes of the week, each level shrunk towards the one above by how much it differs
  beyond noise (empirical Bayes: a level that only repeats noise counts for nothing, a
  weekly pattern that repeats exactly counts fully). With little history the finer levels
  count for little and the features carry the forecast; a load that repeats each week is
  forecast exactly.
- ``e(t)``, the **error**: its 10th, 50th and 90th percentiles by regime, each week's
  errors measured against the profile of the other weeks (each day's against the other
  days while the history is shorter than two weeks), so that the interval is that of a
  week the model has not seen. The forecast (p50) is the fit plus the median
  error; the 80 % interval is [p10, p90].

Baselines for the backtest (:mod:`benchmarks.forecast`): **seasonal naive** (the same 15
minutes a week earlier, or, when that day's block was of another regime, the latest day
whose block had the same regime) and the **hourly energy baseline** of the analytics
(``kWh = a + b x units``, :func:`analytics.energy.indicators.fit_baseline`) fed the units of the
seasonal-naive hour.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from analytics.energy.indicators import fit_baseline
from core.clock import BLOCK_MS, DAY_BLOCKS, DAY_MS, HOUR_MS
from core.errors import FactoryError

SLOT_MS = BLOCK_MS
DAY_SLOTS = DAY_BLOCKS
QUANTILES = (0.1, 0.5, 0.9)
MIN_HISTORY_BLOCKS = DAY_SLOTS // 2
"""Half a day of metered blocks at least; less gives :class:`ForecastError`."""

Period = tuple[int, int, str, str]


class ForecastError(FactoryError, ValueError):
    """No forecast can be made; the message says what is missing and how to get it."""


@dataclass(frozen=True, slots=True)
class Clock:
    """Block starts on the grid, with their local weekday (0 Monday), slot of the day (0..95)
    and hour of the day, in the plant's time zone."""

    t: np.ndarray
    weekday: np.ndarray
    slot: np.ndarray
    hour: np.ndarray

    def __len__(self) -> int:
        return len(self.t)

    def part(self, i: int, j: int) -> Clock:
        return Clock(self.t[i:j], self.weekday[i:j], self.slot[i:j], self.hour[i:j])


def clock(start_ms: int, n: int, timezone: str) -> Clock:
    """``n`` blocks from ``start_ms`` (a multiple of 15 minutes)."""
    if start_ms % SLOT_MS:
        raise ValueError("blocks start on a multiple of 15 minutes")
    t = start_ms + SLOT_MS * np.arange(n, dtype=np.int64)
    zone = ZoneInfo(timezone)
    local = [dt.datetime.fromtimestamp(x / 1000, zone) for x in t.tolist()]
    weekday = np.array([d.weekday() for d in local], dtype=np.int64)
    minutes = np.array([d.hour * 60 + d.minute for d in local], dtype=np.int64)
    return Clock(t, weekday, minutes // 15, minutes / 60.0)


def shares(periods: Sequence[Period], ck: Clock) -> tuple[np.ndarray, np.ndarray]:
    """The share of each block inside a shift and inside a break."""
    shift, brk = np.zeros(len(ck)), np.zeros(len(ck))
    if not len(ck):
        return shift, brk
    t0 = int(ck.t[0])
    for a, b, kind, _ in periods:
        i = max((a - t0) // SLOT_MS, 0)
        j = min((b - 1 - t0) // SLOT_MS + 1, len(ck))
        if j <= i:
            continue
        starts = ck.t[i:j]
        overlap = np.minimum(b, starts + SLOT_MS) - np.maximum(a, starts)
        (shift if kind == "shift" else brk)[i:j] += np.clip(overlap, 0, None) / SLOT_MS
    return np.clip(shift, 0, 1), np.clip(brk, 0, 1)


@dataclass(frozen=True, slots=True)
class Features:
    """What the model knows of each block besides its load."""

    ck: Clock
    shift: np.ndarray
    brk: np.ndarray

    @property
    def regime(self) -> np.ndarray:
        """1 for a block mostly inside a planned shift, else 0."""
        return (self.shift >= 0.5).astype(np.int64)

    def design(self) -> np.ndarray:
        h = 2 * np.pi * self.ck.hour / 24
        return np.column_stack(
            [np.ones(len(h)), self.shift, self.brk, np.sin(h), np.cos(h),
             np.sin(2 * h), np.cos(2 * h)]
        )  # fmt: skip

    def groups(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Profile groups: regime; (slot, regime); (weekday, slot, regime)."""
        r = self.regime
        return r, self.ck.slot * 2 + r, (self.ck.weekday * DAY_SLOTS + self.ck.slot) * 2 + r

    def part(self, i: int, j: int) -> Features:
        return Features(self.ck.part(i, j), self.shift[i:j], self.brk[i:j])


def features(periods: Sequence[Period], ck: Clock) -> Features:
    shift, brk = shares(periods, ck)
    return Features(ck, shift, brk)


_SIZES = (2, DAY_SLOTS * 2, 7 * DAY_SLOTS * 2)


@dataclass(frozen=True, slots=True)
class Level:
    """One level of the seasonal profile: the mean of each group of what the levels above
    left, and how much of it counts (the shrink factor of each group)."""

    mean: np.ndarray
    shrink: np.ndarray

    def at(self, g: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.shrink[g] * self.mean[g]
        return out


def _level(d: np.ndarray, g: np.ndarray, size: int, above: float | None) -> tuple[Level, float]:
    """The level, and its noise (the spread within its groups); ``above``: the level
    above's, used when no group here was seen twice."""
    count = np.bincount(g, minlength=size).astype(np.float64)
    total = np.bincount(g, weights=d, minlength=size)
    seen = count > 0
    mean = np.where(seen, total / np.maximum(count, 1), 0.0)
    squares = np.bincount(g, weights=(d - mean[g]) ** 2, minlength=size)
    repeated = count >= 2
    if repeated.any():
        noise = float(squares[repeated].sum() / (count[repeated] - 1).sum())
    elif above is not None:
        noise = above
    else:
        noise = float(np.var(d)) if len(d) else 0.0
    # Between-group variance beyond what noise alone gives the means of groups this size.
    between = (
        max(float(np.var(mean[seen])) - noise * float(np.mean(1 / count[seen])), 0.0)
        if seen.sum() > 1
        else 0.0
    )
    if between <= 0:
        shrink = np.zeros(size)
    elif noise <= 0:
        shrink = seen.astype(np.float64)
    else:
        shrink = count * between / (count * between + noise)
    return Level(mean, shrink), noise


Keys = tuple[np.ndarray, ...]


def _profile(d: np.ndarray, keys: Keys) -> tuple[Level, Level, Level]:
    """The three levels of the seasonal profile of residuals ``d``."""
    levels = []
    noise: float | None = None
    for g, size in zip(keys, _SIZES, strict=True):
        level, noise = _level(d, g, size, noise)
        levels.append(level)
        d = d - level.at(g)
    return levels[0], levels[1], levels[2]


def _at(levels: Sequence[Level], keys: Keys) -> np.ndarray:
    out = np.zeros(len(keys[0]))
    for level, g in zip(levels, keys, strict=True):
        out = out + level.at(g)
    return out


@dataclass(frozen=True, slots=True)
class Model:
    """A fitted load model of one target."""

    beta: np.ndarray
    levels: tuple[Level, Level, Level]
    quantiles: np.ndarray
    """Per regime (rows 0, 1): the error's 10th, 50th and 90th percentiles, kW."""
    errors: np.ndarray
    """Each history block's error, left out of the profile it is compared with (NaN: no
    data): sums of them give the interval of a sum of blocks."""

    def mean(self, f: Features) -> np.ndarray:
        return np.asarray(f.design() @ self.beta + _at(self.levels, f.groups()))

    def predict(self, f: Features) -> np.ndarray:
        """(n, 3): p10, p50, p90 of each block's mean power (kW, never below 0)."""
        m = self.mean(f)
        out = m[:, None] + self.quantiles[f.regime]
        return np.asarray(np.clip(out, 0.0, None))


def fit(f: Features, kw: np.ndarray, *, ridge: float = 1e-6) -> Model:
    """Fit the model on the blocks with a value (NaN: no data)."""
    ok = ~np.isnan(kw)
    if ok.sum() < MIN_HISTORY_BLOCKS:
        raise ForecastError(
            f"{int(ok.sum())} metered 15-minute blocks in the history, "
            f"{MIN_HISTORY_BLOCKS} needed (half a day)"
        )
    X, y = f.design()[ok], kw[ok]
    penalty = ridge * len(y) * np.eye(X.shape[1])
    penalty[0, 0] = 0.0
    beta = np.linalg.solve(X.T @ X + penalty, X.T @ y)
    resid = y - X @ beta
    keys = tuple(k[ok] for k in f.groups())
    levels = _profile(resid, keys)
    # Errors of blocks the profile has not seen: each week's from the profile of the other
    # weeks (each day's while the history is shorter than two weeks).
    t = f.ck.t[ok]
    fold = (t - t[0]) // (7 * DAY_MS if t[-1] - t[0] >= 14 * DAY_MS else DAY_MS)
    if fold[-1] < 1:
        honest = resid - _at(levels, keys)
    else:
        honest = np.empty(len(resid))
        for w in range(int(fold[-1]) + 1):
            out = fold == w
            if out.any():
                others = _profile(resid[~out], tuple(k[~out] for k in keys))
                honest[out] = resid[out] - _at(others, tuple(k[out] for k in keys))
    g0 = keys[0]
    quantiles = np.zeros((2, 3))
    pooled = np.quantile(honest, QUANTILES)
    for r in (0, 1):
        mine = honest[g0 == r]
        quantiles[r] = np.quantile(mine, QUANTILES) if len(mine) >= 20 else pooled
    errors = np.full(len(kw), np.nan)
    errors[ok] = honest
    return Model(beta, levels, quantiles, errors)


# -- Accuracy measures and the backtest's baselines.


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Weighted absolute percentage error: sum |actual - forecast| / sum |actual|."""
    ok = ~np.isnan(actual) & ~np.isnan(forecast)
    return float(np.abs(actual[ok] - forecast[ok]).sum() / np.abs(actual[ok]).sum())


def pinball(actual: np.ndarray, q: np.ndarray) -> float:
    """Mean pinball (quantile) loss over the 10th, 50th and 90th percentiles, kW; ``q`` is
    (n, 3). A point forecast is scored as if all three percentiles were it."""
    ok = ~np.isnan(actual) & ~np.isnan(q).any(axis=1)
    diff = actual[ok, None] - q[ok]
    taus = np.array(QUANTILES)
    return float(np.maximum(taus * diff, (taus - 1) * diff).mean())


def coverage(actual: np.ndarray, q: np.ndarray) -> float:
    """Share of actuals inside [p10, p90]."""
    ok = ~np.isnan(actual)
    inside = (actual[ok] >= q[ok, 0]) & (actual[ok] <= q[ok, 2])
    return float(inside.mean())


def naive_index(history: Features, target: Features) -> np.ndarray:
    """For each target block, the index into ``history`` of the block the seasonal-naive
    forecast repeats: a week earlier when that block had the same regime, else the latest
    earlier day whose block at the same time had it; -1 when there is none."""
    hr, tr = history.regime, target.regime
    t0 = int(history.ck.t[0])
    out = np.full(len(target.ck), -1, dtype=np.int64)
    for k, (t, r) in enumerate(zip(target.ck.t.tolist(), tr.tolist(), strict=True)):
        for days in (7, *range(1, 7 * 8)):
            i = (t - days * DAY_MS - t0) // SLOT_MS
            if 0 <= i < len(hr) and hr[i] == r:
                out[k] = i
                break
    return out


def seasonal_naive(history: Features, kw: np.ndarray, target: Features) -> np.ndarray:
    idx = naive_index(history, target)
    return np.where(idx >= 0, kw[np.maximum(idx, 0)], np.nan)


def hourly_baseline(
    history: Features, kw: np.ndarray, units: np.ndarray, target: Features
) -> np.ndarray:
    """The analytics' energy baseline as a forecast: ``kWh = a + b x units`` fitted on the
    history's clock hours, fed the units made in the hour of each block's seasonal-naive
    block; each block of an hour gets the hour's mean power."""

    hour = history.ck.t // HOUR_MS
    first = np.searchsorted(hour, hour, side="left")
    n = len(hour)
    whole = np.flatnonzero((first == np.arange(n)) & (np.arange(n) + 3 < n))
    whole = whole[hour[np.minimum(whole + 3, n - 1)] == hour[whole]]
    rows = []
    hour_units = np.full(n, np.nan)
    for i in whole.tolist():
        kwh = float(np.sum(kw[i : i + 4]) / 4)
        u = float(units[i : i + 4].sum())
        hour_units[i : i + 4] = u
        if not np.isnan(kwh):
            rows.append((str(i), u, kwh))
    fitted = fit_baseline(rows)
    if fitted is None:
        return np.full(len(target.ck), np.nan)
    idx = naive_index(history, target)
    made = np.where(idx >= 0, hour_units[np.maximum(idx, 0)], np.nan)
    return np.asarray(np.clip(fitted.intercept_kwh + fitted.slope_kwh_per_unit * made, 0, None))
