"""Energy cost by time-of-use tariff (``plant.tariff``), from 15-minute energy blocks.

- Each block of energy is priced by the band of its start (band edges fall on quarter
  hours, so a block never straddles two bands): cost = sum of kWh x price per block, per
  machine, and summed for lines, sites and the plant; a site with a main meter is priced
  on its meter. Long windows are exact from the stored accounts, which keep the blocks.
- Cost per good unit = cost / good units; share at peak = kWh in peak bands / kWh priced.
- Demand charge: the site's highest mean demand over ``demand_block_minutes`` (aligned to
  the clock) x ``demand_charge_per_kw``.
- Idle energy at peak: each machine's idle energy x its share of energy drawn at peak
  (an estimate: the accounts keep energy by state per window, not per block), and what it
  costs at its peak blocks' mean price: what switching machines off when idle in peak
  hours would save.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

from analytics.oee.accounts import Kpi
from analytics.oee.book import Book
from core.clock import BLOCK_MS
from plant.model import Plant
from plant.tariff import Tariff
from telemetry.topic import MachinePath

ZERO_DECIMALS = ("VND", "JPY", "KRW", "IDR", "CLP", "ISK", "UGX", "XAF", "XOF")
"""Currencies without minor units in practice (ISO 4217 exponent 0, and VND)."""


class Pricer:
    """The band of any block start, for one plant's tariff, calendar and time zone."""

    def __init__(self, plant: Plant) -> None:
        assert plant.tariff is not None
        self.tariff: Tariff = plant.tariff
        self.zone = ZoneInfo(plant.calendar.timezone)
        self.holidays = set(plant.calendar.holidays)
        self.week = self.tariff.week()
        self.price = {b.name: b.price_per_kwh for b in self.tariff.bands}
        self._cache: dict[int, str] = {}

    def band(self, start_ms: int) -> str:
        found = self._cache.get(start_ms)
        if found is None:
            local = dt.datetime.fromtimestamp(start_ms / 1000, self.zone)
            q = local.weekday() * 96 + (local.hour * 60 + local.minute) // 15
            found = self.week[q]
            t = self.tariff
            if t.holiday_band is not None and local.date() in self.holidays and t.band(found).peak:
                found = t.holiday_band
            self._cache[start_ms] = found
        return found


@dataclass(slots=True)
class Bill:
    """Energy priced by band: kWh and cost per band."""

    kwh: dict[str, float] = field(default_factory=dict)
    cost: dict[str, float] = field(default_factory=dict)

    def add(self, band: str, kwh: float, price: float) -> None:
        self.kwh[band] = self.kwh.get(band, 0.0) + kwh
        self.cost[band] = self.cost.get(band, 0.0) + kwh * price

    def merge(self, other: Bill) -> None:
        for band, kwh in other.kwh.items():
            self.kwh[band] = self.kwh.get(band, 0.0) + kwh
            self.cost[band] = self.cost.get(band, 0.0) + other.cost[band]

    def figures(self, tariff: Tariff, good: int | None, decimals: int) -> dict[str, Any]:
        total_kwh = sum(self.kwh.values())
        total = sum(self.cost.values())
        peak = sum(v for b, v in self.kwh.items() if tariff.band(b).peak)
        return {
            "kwh": round(total_kwh, 6),
            "cost": round(total, decimals),
            "cost_per_good_unit": round(total / good, decimals + 2) if good else None,
            "peak_share": peak / total_kwh if total_kwh > 0 else None,
            "kwh_by_band": {b: round(v, 6) for b, v in sorted(self.kwh.items())},
            "cost_by_band": {b: round(v, decimals) for b, v in sorted(self.cost.items())},
        }


def bill(blocks: Iterable[tuple[int, float]], pricer: Pricer) -> Bill:
    out = Bill()
    for start, kwh in blocks:
        band = pricer.band(start)
        out.add(band, kwh, pricer.price[band])
    return out


def priced(
    blocks: Mapping[MachinePath, Iterable[tuple[int, float]]], plant: Plant | None
) -> dict[MachinePath, tuple[float, float]] | None:
    """Each machine's (cost, kWh in peak bands) from its 15-minute blocks, for the KPI
    points (`factory aggregate`); None without a tariff."""
    if plant is None or plant.tariff is None:
        return None
    pricer, tariff = Pricer(plant), plant.tariff
    out = {}
    for path, b in blocks.items():
        got = bill(b, pricer)
        peak = sum(v for band, v in got.kwh.items() if tariff.band(band).peak)
        out[path] = (sum(got.cost.values()), peak)
    return out


def _demand(blocks: Iterable[tuple[int, float]], minutes: int) -> tuple[float, int] | None:
    """The highest mean kW over ``minutes`` blocks aligned to the clock (30: two 15-minute
    blocks of the same half hour, both present)."""
    by_start = dict(blocks)
    if not by_start:
        return None
    if minutes == 15:
        start = max(by_start, key=lambda s: (by_start[s], -s))
        return by_start[start] * 4, start
    pairs = {s: by_start[s] + by_start[s + BLOCK_MS] for s in by_start
             if s % (2 * BLOCK_MS) == 0 and s + BLOCK_MS in by_start}  # fmt: skip
    if not pairs:
        return None
    start = max(pairs, key=lambda s: (pairs[s], -s))
    return pairs[start] * 2, start


def _decimals(tariff: Tariff) -> int:
    return 0 if tariff.currency in ZERO_DECIMALS else 2


def _grouped(bills: Mapping[MachinePath, Bill], kpis: Mapping[MachinePath, Kpi],
             level: Literal["line", "site"]) -> dict[str, tuple[Bill, int]]:  # fmt: skip
    """Machines' bills summed per line or site, with their good units."""
    out: dict[str, tuple[Bill, int]] = {}
    for path, b in bills.items():
        acc, good = out.get(path.key(level), (Bill(), 0))
        acc.merge(b)
        out[path.key(level)] = (acc, good + kpis[path].good_count)
    return out


def cost_section(book: Book, kpis: Mapping[MachinePath, Kpi], plant: Plant | None
                 ) -> dict[str, Any] | None:  # fmt: skip
    """The cost section of a report; None without a tariff in the plant model."""
    if plant is None or plant.tariff is None:
        return None
    tariff = plant.tariff
    pricer = Pricer(plant)
    decimals = _decimals(tariff)
    bills = {p: bill(book.entries[p].blocks, pricer) for p in kpis}
    levels = {level: _grouped(bills, kpis, level) for level in ("line", "site")}
    total = Bill()
    for b in bills.values():
        total.merge(b)
    good_all = sum(k.good_count for k in kpis.values())
    meters = {p.site: e for p, e in book.meters.items()}
    sites: dict[str, Any] = {}
    for site, (acc, good) in sorted(levels["site"].items()):
        sites[site] = {"priced_on": "machines", **acc.figures(tariff, good, decimals)}
    for site, meter in sorted(meters.items()):
        good = levels["site"].get(site, (Bill(), 0))[1]
        sites[site] = {"priced_on": "main meter",
                       **bill(meter.blocks, pricer).figures(tariff, good, decimals)}  # fmt: skip
    demand = {}
    for site in sites:
        blocks = meters[site].blocks if site in meters else _summed(
            [book.entries[p].blocks for p in kpis if p.site == site])  # fmt: skip
        found = _demand(blocks, tariff.demand_block_minutes)
        if found is not None:
            kw, start = found
            charge = round(kw * tariff.demand_charge_per_kw, decimals)
            demand[site] = {"kw": round(kw, 3), "block_start_ms": start, "charge": charge}
    idle_kwh = idle_cost = 0.0
    for path, b in bills.items():
        kpi, kwh = kpis[path], sum(b.kwh.values())
        peak_kwh = sum(v for band, v in b.kwh.items() if tariff.band(band).peak)
        if kwh > 0 and peak_kwh > 0 and kpi.energy_by_state_kwh:
            idle = kpi.energy_by_state_kwh.get("IDLE", 0.0) * peak_kwh / kwh
            peak_cost = sum(v for band, v in b.cost.items() if tariff.band(band).peak)
            idle_kwh += idle
            idle_cost += idle * peak_cost / peak_kwh
    bands = {b.name: {"price_per_kwh": b.price_per_kwh, "peak": b.peak} for b in tariff.bands}
    lines = {k: a.figures(tariff, g, decimals) for k, (a, g) in sorted(levels["line"].items())}
    machines = {str(p): b.figures(tariff, kpis[p].good_count, decimals)
                for p, b in sorted(bills.items())}  # fmt: skip
    method = ("each machine's idle kWh x its share of kWh in peak bands, at its peak blocks' "
              "mean price")  # fmt: skip
    return {
        "currency": tariff.currency,
        "decimals": decimals,
        "bands": bands,
        "plant": total.figures(tariff, good_all, decimals) if bills else None,
        "sites": sites,
        "lines": lines,
        "machines": machines,
        "demand": demand,
        "idle_at_peak": {
            "kwh": round(idle_kwh, 3),
            "cost": round(idle_cost, decimals),
            "method": method,
        },
    }


def _summed(per_machine: list[tuple[tuple[int, float], ...]]) -> list[tuple[int, float]]:
    out: dict[int, float] = {}
    for blocks in per_machine:
        for start, kwh in blocks:
            out[start] = out.get(start, 0.0) + kwh
    return sorted(out.items())


def period_costs(book: Book, plant: Plant | None) -> list[dict[str, Any] | None]:
    """The bill of each period of the book (shifts, days or hours, which do not overlap) for
    the plant's machines and each line: every block of the window's entries priced once and
    put in the period it starts in."""
    if plant is None or plant.tariff is None:
        return [None] * len(book.periods)
    tariff = plant.tariff
    pricer = Pricer(plant)
    order = sorted(range(len(book.periods)), key=lambda i: book.periods[i][0].window.start_ms)
    starts = [book.periods[i][0].window.start_ms for i in order]
    bills: list[dict[MachinePath, Bill]] = [{} for _ in book.periods]
    for path, entry in book.entries.items():
        if entry.kpi is None:
            continue
        for t, kwh in entry.blocks:
            i = bisect.bisect_right(starts, t) - 1
            if i < 0 or t >= book.periods[order[i]][0].window.end_ms:
                continue  # before the first period, or between two shifts
            band = pricer.band(t)
            bills[order[i]].setdefault(path, Bill()).add(band, kwh, pricer.price[band])
    out: list[dict[str, Any] | None] = []
    for (_, kpis), found in zip(book.periods, bills, strict=True):
        mine = {p: found.get(p, Bill()) for p in kpis}
        total = Bill()
        for b in mine.values():
            total.merge(b)
        lines = _grouped(mine, kpis, "line")
        good = sum(k.good_count for k in kpis.values())
        out.append({
            "plant": total.figures(tariff, good, _decimals(tariff)),
            "lines": {k: a.figures(tariff, g, _decimals(tariff)) for k, (a, g)
                      in sorted(lines.items())},
        })  # fmt: skip
    return out
