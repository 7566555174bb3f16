"""The energy outlook of a plant: each site's and line's load for the next 24 hours with its
80 % interval, when a site will approach its contracted demand, and the flexible loads
that peak hours could do without.

A line is forecast from its machines' meters; a site as the sum of its lines and of the
rest of its main meter (compressors, HVAC, lighting, unmetered machines), each with the
model of :mod:`analytics.forecast.model`: the production plan moves the lines, the calendar moves
the rest. The site's interval comes from the summed errors of its parts, so that what
they share (a busy day) widens it and what they do not narrows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analytics.forecast.model import (
    DAY_SLOTS,
    QUANTILES,
    SLOT_MS,
    Features,
    ForecastError,
    Model,
    clock,
    features,
    fit,
)
from core.clock import iso, next_midnight, zone
from core.i18n import N_
from plant.model import WEEKDAYS, Plant, Weekday
from plant.plan import Plan
from plant.tariff import Tariff, span_minutes

HORIZON_BLOCKS = DAY_SLOTS


@dataclass(frozen=True, slots=True)
class PeakHours:
    """Hours of the day when energy is dear, on the given weekdays (local time)."""

    bands: tuple[tuple[int, int], ...] = ((570, 690), (1020, 1200))
    days: tuple[Weekday, ...] = WEEKDAYS[:6]
    week: tuple[bool, ...] | None = None
    """Peak or not for each quarter hour of the week (a tariff's peak bands); overrides
    ``bands`` and ``days``."""

    @classmethod
    def of_tariff(cls, tariff: Tariff) -> PeakHours:
        """The peak bands of a tariff (holidays aside: the forecast's calendar has them)."""
        peak = {b.name for b in tariff.bands if b.peak}
        spans = tuple(dict.fromkeys(span_minutes(h) for b in tariff.bands if b.peak
                                    for h in b.hours))  # fmt: skip
        days = tuple(dict.fromkeys(d for b in tariff.bands if b.peak for d in b.days))
        return cls(spans, days, tuple(name in peak for name in tariff.week()))

    def labels(self) -> list[str]:
        return [f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}" for a, b in self.bands]

    def mask(self, f: Features) -> np.ndarray:
        if self.week is not None:
            return np.asarray(np.asarray(self.week)[f.ck.weekday * DAY_SLOTS + f.ck.slot])
        minute = f.ck.slot * 15
        on = np.zeros(len(minute), dtype=bool)
        for a, b in self.bands:
            on |= (minute >= a) & (minute < b)
        day = np.isin(f.ck.weekday, [WEEKDAYS.index(d) for d in self.days])
        return on & day


@dataclass(frozen=True, slots=True)
class History:
    """Metered mean power per 15-minute block from ``start_ms`` (NaN: no data)."""

    start_ms: int
    lines: Mapping[str, np.ndarray]
    """``site/area/line`` -> the sum of its machines' meters."""
    sites: Mapping[str, np.ndarray]
    """site -> its main meter (sites without one are absent)."""
    idle_kw: Mapping[str, float] = field(default_factory=dict)
    """line -> mean power its machines drew, per planned hour, while idle or on a break."""

    @property
    def blocks(self) -> int:
        sizes = [len(v) for v in (*self.lines.values(), *self.sites.values())]
        return max(sizes, default=0)

    @property
    def metered_blocks(self) -> int:
        """Blocks from the first with a value to the end."""
        firsts = [int(np.argmax(~np.isnan(v))) for v in (*self.lines.values(),
                  *self.sites.values()) if (~np.isnan(v)).any()]  # fmt: skip
        return self.blocks - min(firsts) if firsts else 0

    def part(self, i: int, j: int) -> History:
        """Blocks [i, j) of the history."""
        return History(self.start_ms + i * SLOT_MS, {k: v[i:j] for k, v in self.lines.items()},
                       {k: v[i:j] for k, v in self.sites.items()}, self.idle_kw)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Target:
    """One forecast: p10, p50, p90 (kW) of each block from ``start_ms``."""

    kind: str
    name: str
    start_ms: int
    q: np.ndarray
    errors: np.ndarray
    """History errors (NaN: no data), for intervals of sums."""
    regime: np.ndarray
    history_regime: np.ndarray
    note: str = ""

    def total(self, i: int, j: int) -> tuple[float, float, float]:
        """kWh over blocks [i, j) with its 80 % interval: the sums of the same blocks of the
        history's days with the same regimes give the spread."""
        mid = float(self.q[i:j, 1].sum()) * SLOT_MS / 3.6e6
        n, span = len(self.errors), j - i
        sums = []
        want = self.regime[i:j]
        for end in range(n - (self.q.shape[0] - i), span - 1, -DAY_SLOTS):
            lo = end - span
            if lo < 0:
                break
            e = self.errors[lo:end]
            if np.isnan(e).mean() > 0.1:
                continue
            same = (self.history_regime[lo:end] == want).mean() >= 0.9
            sums.append((float(np.nansum(e)), same))
        chosen = [s for s, same in sums if same]
        if len(chosen) < 5:
            chosen = [s for s, _ in sums]
        if len(chosen) < 2:
            return float("nan"), mid, float("nan")
        lo_q, hi_q = np.quantile(chosen, [QUANTILES[0], QUANTILES[2]]) - np.median(chosen)
        k = SLOT_MS / 3.6e6
        return max(mid + float(lo_q) * k, 0.0), mid, mid + float(hi_q) * k


def _periods(plant: Plant, plan: Plan | None, line: str | None, a: int, b: int) -> list[Any]:
    if plan is None or line is None:
        return plant.calendar.periods(a, b)
    return plan.periods(plant.calendar, line, a, b)


def _combine(parts: Sequence[tuple[Model, Features, Features]], site_f: Features, kind: str,
             name: str, start_ms: int) -> Target:  # fmt: skip
    """A target that is the sum of parts (each: model, history features, future features)."""
    mean = sum((m.mean(f) for m, _, f in parts), np.zeros(len(site_f.ck)))
    errors = sum((m.errors for m, _, _ in parts), np.zeros(len(parts[0][0].errors)))
    hist_regime = parts[-1][1].regime
    q = np.zeros((2, 3))
    ok = ~np.isnan(errors)
    pooled = np.quantile(errors[ok], QUANTILES)
    for r in (0, 1):
        mine = errors[ok & (hist_regime == r)]
        q[r] = np.quantile(mine, QUANTILES) if len(mine) >= 20 else pooled
    out = np.clip(mean[:, None] + q[site_f.regime], 0.0, None)
    return Target(kind, name, start_ms, out, errors, site_f.regime, hist_regime)


def forecast(plant: Plant, history: History, *, plan: Plan | None = None,
             horizon: int = HORIZON_BLOCKS) -> list[Target]:  # fmt: skip
    """Every line with history, and every site, from the end of the history on."""
    n = history.blocks
    start = history.start_ms
    origin = start + n * SLOT_MS
    ck = clock(start, n + horizon, plant.calendar.timezone)
    end = origin + horizon * SLOT_MS
    out: list[Target] = []
    lines: dict[str, tuple[Model, Features, Features]] = {}
    for line, kw in sorted(history.lines.items()):
        f = features(_periods(plant, plan, line, start, end), ck)
        hist, fut = f.part(0, n), f.part(n, n + horizon)
        try:
            model = fit(hist, _pad(kw, n))
        except ForecastError as exc:
            raise ForecastError(f"line {line}: {exc}") from None
        lines[line] = (model, hist, fut)
        out.append(Target("line", line, origin, model.predict(fut), model.errors, fut.regime,
                          hist.regime))  # fmt: skip
    calendar_f = features(_periods(plant, None, None, start, end), ck)
    hist_c, fut_c = calendar_f.part(0, n), calendar_f.part(n, n + horizon)
    for site in plant.sites:
        parts = [v for k, v in lines.items() if k.split("/")[0] == site.name]
        rest = metered("rest", site.name, history.lines, history.sites)  # None: no main meter
        note = "sum of its lines (no main meter)"
        if rest is not None:
            try:
                parts.append((fit(hist_c, _pad(rest, n)), hist_c, fut_c))
            except ForecastError as exc:
                raise ForecastError(f"site {site.name} (main meter): {exc}") from None
            note = "its lines plus the rest of its main meter"
        if parts:
            t = _combine(parts, fut_c, "site", site.name, origin)
            out.append(Target(t.kind, t.name, t.start_ms, t.q, t.errors, t.regime,
                              t.history_regime, note))  # fmt: skip
        if rest is not None:
            m, _, f = parts[-1]
            out.append(Target("rest", site.name, origin, m.predict(f), m.errors, f.regime,
                              hist_c.regime, "main meter minus the lines: compressors, HVAC, "
                              "lighting, unmetered machines"))  # fmt: skip
    if not out:
        raise ForecastError("no metered line or main meter in the history")
    return out


def metered(kind: str, name: str, lines: Mapping[str, np.ndarray],
            sites: Mapping[str, np.ndarray]) -> np.ndarray | None:  # fmt: skip
    """What a target's forecast is compared with, block by block: a line's machines; a
    site's main meter, or the sum of its lines without one; the ``rest`` of a site's main
    meter (the meter minus its lines)."""
    if kind == "line":
        return lines.get(name)
    mine = [v for k, v in lines.items() if k.split("/")[0] == name]
    meter = sites.get(name)
    if kind == "site":
        if meter is not None:
            return meter
        return np.asarray(np.sum(mine, axis=0)) if mine else None
    if meter is None:
        return None
    rest = np.array(meter, dtype=np.float64)
    for v in mine:
        rest -= v
    return rest


def _pad(kw: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    out[: min(n, len(kw))] = kw[:n]
    return out


def _spans(starts: Sequence[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s in starts:
        if out and out[-1][1] == s:
            out[-1] = (out[-1][0], s + SLOT_MS)
        else:
            out.append((s, s + SLOT_MS))
    return out


@dataclass(frozen=True, slots=True)
class Outlook:
    """Forecasts of every target, with what they mean for demand and peak hours."""

    plant: Plant
    targets: list[Target]
    peak: PeakHours
    peak_mask: np.ndarray
    shift_share: dict[str, np.ndarray]
    """line -> share of each future block in a planned shift (plan applied)."""
    idle_kw: Mapping[str, float]
    warn_share: float
    history_blocks: int
    train_seconds: float

    @property
    def origin_ms(self) -> int:
        return self.targets[0].start_ms

    def demand(self) -> list[dict[str, Any]]:
        """Per site with a contracted maximum demand: the forecast peak, and the hours where
        the 90th percentile reaches ``warn_share`` of the contract."""
        out = []
        for site in self.plant.sites:
            t = next((x for x in self.targets if x.kind == "site" and x.name == site.name), None)
            contract = site.main_meter.contracted_kw if site.main_meter else None
            if t is None:
                continue
            i = int(np.argmax(t.q[:, 1]))
            item: dict[str, Any] = {
                "site": site.name,
                "peak_p50_kw": round(float(t.q[i, 1]), 1),
                "peak_p90_kw": round(float(t.q[:, 2].max()), 1),
                "peak_at": iso(t.start_ms + i * SLOT_MS),
                "contracted_kw": contract,
            }
            if contract is not None:
                warn = self.warn_share * contract
                hot = [t.start_ms + int(k) * SLOT_MS for k in np.flatnonzero(t.q[:, 2] >= warn)]
                item["warning_kw"] = round(warn, 1)
                item["approaching"] = [
                    {"from": iso(a), "to": iso(b),
                     "p90_kw": round(float(t.q[(a - t.start_ms) // SLOT_MS:
                                                (b - t.start_ms) // SLOT_MS, 2].max()), 1)}
                    for a, b in _spans(hot)
                ]  # fmt: skip
            out.append(item)
        return out

    def flexible(self) -> list[dict[str, Any]]:
        """Loads that could leave the peak hours of the next 24 hours, largest first: each
        line's production (if its plan moved), its machines' idle base load, and the rest
        of each site (compressors, HVAC, lighting)."""
        peak = self.peak_mask
        if not peak.any():
            return []
        hours = SLOT_MS / 3.6e6
        out = []
        site_peak: dict[str, int] = {}
        for t in self.targets:
            if t.kind == "site":
                site_peak[t.name] = int(np.flatnonzero(peak)[np.argmax(t.q[peak, 1])])
        for t in self.targets:
            at = site_peak.get(t.name.split("/")[0])
            if t.kind == "line":
                share = self.shift_share.get(t.name, np.zeros(len(peak)))
                out.append({
                    "load": N_("production"), "target": t.name,
                    "action": N_("move the line's planned running hours out of the peak hours"),
                    "kwh_in_peak": round(float(t.q[peak, 1].sum()) * hours, 1),
                    "kw_at_site_peak": None if at is None else round(float(t.q[at, 1]), 1),
                })  # fmt: skip
                idle = self.idle_kw.get(t.name)
                if idle:
                    out.append({
                        "load": N_("idle base load"), "target": t.name,
                        "action": N_("switch machines off when idle or on a break in peak hours"),
                        "kwh_in_peak": round(idle * float(share[peak].sum()) * hours, 1),
                        "kw_at_site_peak": None if at is None else round(idle * float(share[at]),
                                                                         1),
                    })  # fmt: skip
            elif t.kind == "rest":
                out.append({
                    "load": N_("non-production"), "target": t.name,
                    "action": N_("compressors (fix leaks, lower the set-point, fill the air "
                                 "receiver before the peak), HVAC, lighting"),
                    "kwh_in_peak": round(float(t.q[peak, 1].sum()) * hours, 1),
                    "kw_at_site_peak": None if at is None else round(float(t.q[at, 1]), 1),
                })  # fmt: skip
        return sorted(out, key=lambda x: -x["kwh_in_peak"])

    def as_dict(self, *, blocks: bool = True) -> dict[str, Any]:
        tz = self.plant.calendar.timezone
        n = self.targets[0].q.shape[0]
        today = min(n, (next_midnight(self.origin_ms, zone(tz)) - self.origin_ms) // SLOT_MS)
        items = []
        for t in self.targets:
            item: dict[str, Any] = {"kind": t.kind, "name": t.name, "note": t.note}
            for key, j in (("next_24h_kwh", n), ("rest_of_day_kwh", today)):
                lo, mid, hi = t.total(0, j)
                item[key] = {"p10": _r(lo), "p50": _r(mid), "p90": _r(hi)}
            if blocks:
                item["blocks"] = [
                    [t.start_ms + k * SLOT_MS, *(round(float(v), 2) for v in t.q[k])]
                    for k in range(n)
                ]
            items.append(item)
        return {
            "origin": iso(self.origin_ms),
            "origin_ms": self.origin_ms,
            "timezone": tz,
            "block_minutes": 15,
            "columns": ["start_ms", "p10_kw", "p50_kw", "p90_kw"],
            "history_days": round(self.history_blocks / DAY_SLOTS, 1),
            "train_seconds": round(self.train_seconds, 3),
            "peak_hours": {"bands": self.peak.labels(), "days": list(self.peak.days)},
            "targets": items,
            "demand": self.demand(),
            "flexible": self.flexible(),
        }


def _r(x: float) -> float | None:
    return None if x != x else round(x, 1)


def outlook(plant: Plant, history: History, *, plan: Plan | None = None,
            peak: PeakHours | None = None, warn_share: float = 0.9,
            horizon: int = HORIZON_BLOCKS) -> Outlook:  # fmt: skip
    import time

    t0 = time.perf_counter()
    targets = forecast(plant, history, plan=plan, horizon=horizon)
    seconds = time.perf_counter() - t0
    origin = targets[0].start_ms
    ck = clock(origin, horizon, plant.calendar.timezone)
    end = origin + horizon * SLOT_MS
    shift_share = {
        t.name: features(_periods(plant, plan, t.name, origin, end), ck).shift
        for t in targets
        if t.kind == "line"
    }
    peak = peak or PeakHours()
    mask = peak.mask(features([], ck))
    return Outlook(plant, targets, peak, mask, shift_share, dict(history.idle_kw), warn_share,
                   history.metered_blocks, seconds)  # fmt: skip
