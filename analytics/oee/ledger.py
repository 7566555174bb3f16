"""Entries: all that a report needs to know of one machine (or main meter) over one period,
kept as sums that add up, so that the entry of a month is the sum of its days' or hours'.

A report is built from entries (:mod:`analytics.report.build`), whether they were computed from
raw readings just now or read back from the store (:mod:`analytics.books`): the same
composition either way, so both give the same figures. What an entry holds:

- the OEE account (:class:`plant.oee.Oee`): times, counts, energy, by reason and state;
- the energy of each 15-minute block wholly inside the period that the meter covers (a
  window's peak demand is the highest block, a group's the highest sum of its machines'
  blocks: a max of sums of stored blocks, exact);
- metered time in ``IDLE`` (base load = idle energy / idle time, a ratio of sums);
- when each breakdown started, and the anomaly alarms as chains (an event is a chain of
  alarms closer than the detector's merge gap; chains that touch across an entry's edge
  are joined when entries are composed, so an event is the same however it is cut);
- the newest telemetry reading, whether a vibration sensor reported, and per clock hour
  the units made, the energy and the time without data (the energy baseline's rows).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from analytics.oee.accounts import Kpi, Window
from analytics.oee.counters import block_kwh, counter_increments, demand_edges
from analytics.oee.timeline import Timeline
from plant.oee import Oee, total
from store.series import EnergySeries
from telemetry.topic import MachinePath

HourRow = tuple[int, int, float | None, float]
"""(hour start, clipped to the entry; units made; kWh, None without a meter; s without data)"""


@dataclass(frozen=True, slots=True)
class Chain:
    """Anomaly alarms of one machine closer to each other than the merge gap, inside one
    entry; ``joined`` when an alarm before the entry is within the gap of the first."""

    first_ms: int
    last_ms: int
    peak_z: float
    joined: bool = False


@dataclass(frozen=True, slots=True)
class Entry:
    """One machine (``kpi`` set) or one main meter (``kpi`` None) over [start_ms, end_ms)."""

    path: MachinePath
    start_ms: int
    end_ms: int
    kpi: Oee | None = None
    meter_kwh: float = 0.0
    """A main meter's energy: increments of the readings taken in the period."""
    meter_readings: int = 0
    blocks: tuple[tuple[int, float], ...] = ()
    idle_s: float = 0.0
    breakdowns: tuple[int, ...] = ()
    chains: tuple[Chain, ...] = ()
    newest_ms: int | None = None
    sensor: bool = False
    hours: tuple[HourRow, ...] = ()

    @property
    def window(self) -> Window:
        return Window(self.start_ms, self.end_ms)

    def as_kpi(self) -> Kpi:
        assert self.kpi is not None
        values = {f.name: getattr(self.kpi, f.name) for f in fields(Oee)}
        return Kpi(path=self.path, window=self.window, **values)

    @property
    def empty(self) -> bool:
        """Nothing in the period (no readings in it): the same as no entry at all."""
        k = self.kpi
        if k is None:
            return self.meter_readings == 0 and not self.blocks and self.meter_kwh == 0.0
        return (
            k.no_data_s >= (self.end_ms - self.start_ms) / 1000
            and k.total_count == 0
            and not k.energy_kwh
            and not k.energy_by_state_kwh
            and not self.blocks
            and not self.chains
            and not self.breakdowns
            and self.newest_ms is None
            and not self.sensor
        )

    @property
    def base_load_kw(self) -> float | None:
        """Mean power while idle (powered, not producing)."""
        if self.kpi is None or self.idle_s <= 0:
            return None
        return self.kpi.energy_by_state_kwh.get("IDLE", 0.0) * 3600 / self.idle_s


def chains(t: np.ndarray, z: np.ndarray, a: int, b: int, merge_ms: float) -> tuple[Chain, ...]:
    i, j = (int(x) for x in np.searchsorted(t, [a, b]))
    if j <= i:
        return ()
    tt, zz = t[i:j], z[i:j]
    cuts = np.flatnonzero(np.diff(tt) > merge_ms) + 1
    starts = np.concatenate(([0], cuts))
    ends = np.append(cuts, len(tt))
    out = [
        Chain(int(tt[s]), int(tt[e - 1]), float(zz[s:e].max()))
        for s, e in zip(starts, ends, strict=True)
    ]
    if i > 0 and tt[0] - t[i - 1] <= merge_ms:
        out[0] = replace(out[0], joined=True)
    return tuple(out)


def _hour_rows(timeline: Timeline, hours: Sequence[Window], window: Window) -> tuple[HourRow, ...]:
    rows = []
    for h in hours:
        w = Window(max(h.start_ms, window.start_ms), min(h.end_ms, window.end_ms))
        k = timeline.account(w)
        rows.append((w.start_ms, k.total_count, k.energy_kwh, k.no_data_s))
    return tuple(rows)


def machine_entry(
    path: MachinePath,
    timeline: Timeline,
    window: Window,
    *,
    hours: Sequence[Window],
    max_gap_ms: int,
    alarms: tuple[np.ndarray, np.ndarray] | None = None,
    sensor_t: np.ndarray | None = None,
    merge_s: float = 600.0,
) -> Entry:
    """The entry of a machine over ``window`` from its timeline; ``hours``: the clock hours
    that overlap the window (for the baseline rows), ``alarms``: (times, z) of its anomaly
    alarms, ``sensor_t``: when its vibration sensor reported."""
    a, b = window.start_ms, window.end_ms
    blocks: tuple[tuple[int, float], ...] = ()
    curve = timeline.energy_curve()
    if curve is not None:
        edges = demand_edges(window)
        kwh = block_kwh(*curve, edges, max_gap_ms=max_gap_ms)
        blocks = tuple((int(e), float(v)) for e, v in zip(edges[:-1], kwh, strict=True) if v == v)
    t = timeline.c_time
    k = int(np.searchsorted(t, b)) - 1
    newest = int(t[k]) if k >= 0 and t[k] >= a else None
    if newest is None and len(timeline.r_start) and a <= int(timeline.r_start[0]) < b:
        newest = int(timeline.r_start[0])  # the machine's first reading (no count step yet)
    sensor = False
    if sensor_t is not None and len(sensor_t):
        i, j = np.searchsorted(sensor_t, [a, b])
        sensor = bool(j > i)
    return Entry(
        path=path,
        start_ms=a,
        end_ms=b,
        kpi=timeline.account(window),
        blocks=blocks,
        idle_s=timeline.idle_seconds(window),
        breakdowns=tuple(timeline.breakdown_starts(window)),
        chains=() if alarms is None else chains(*alarms, a, b, merge_s * 1000),
        newest_ms=newest,
        sensor=sensor,
        hours=_hour_rows(timeline, hours, window),
    )


def _cum_at(t: np.ndarray, cum: np.ndarray, x: int, max_gap_ms: int) -> float:
    """The meter's cumulative energy at ``x``: interpolated between the readings around it,
    unless they are further apart than ``max_gap_ms`` (then the energy of the gap belongs
    to the reading that ends it)."""
    k = int(np.searchsorted(t, x, side="right")) - 1
    if k < 0:
        return float(cum[0])
    if k >= len(t) - 1:
        return float(cum[-1])
    if t[k + 1] - t[k] > max_gap_ms:
        return float(cum[k])
    return float(cum[k] + (cum[k + 1] - cum[k]) * (x - t[k]) / (t[k + 1] - t[k]))


def meter_entry(
    path: MachinePath, series: EnergySeries, window: Window, *, max_gap_ms: int
) -> Entry:
    """The entry of a main meter over ``window``: the cumulative energy at its edges, and
    its 15-minute blocks."""
    a, b = window.start_ms, window.end_ms
    t = series.t_ms.astype(np.int64)
    i, j = (int(x) for x in np.searchsorted(t, [a, b]))
    kwh = 0.0
    blocks: tuple[tuple[int, float], ...] = ()
    if len(t) >= 2:
        if not np.isnan(series.energy_kwh).all():
            inc = counter_increments(np.nan_to_num(series.energy_kwh))
        else:
            inc = np.nan_to_num(series.power_kw[:-1]) * np.diff(t) / 3.6e6
        cum = np.concatenate(([0.0], np.cumsum(inc)))
        kwh = _cum_at(t, cum, b, max_gap_ms) - _cum_at(t, cum, a, max_gap_ms)
        edges = demand_edges(window)
        v = block_kwh(t, cum, edges, max_gap_ms=max_gap_ms)
        blocks = tuple((int(e), float(x)) for e, x in zip(edges[:-1], v, strict=True) if x == x)
    return Entry(path=path, start_ms=a, end_ms=b, meter_kwh=kwh, meter_readings=j - i,
                 blocks=blocks)  # fmt: skip


def compose(parts: Sequence[Entry], window: Window, *, merge_s: float = 600.0) -> Entry:
    """One machine's (or meter's) entry over ``window`` from entries that tile part of it;
    the time no entry covers is time without data."""
    parts = sorted(parts, key=lambda e: e.start_ms)
    first = parts[0]
    if first.kpi is None:
        return Entry(
            path=first.path, start_ms=window.start_ms, end_ms=window.end_ms,
            meter_kwh=sum(p.meter_kwh for p in parts),
            meter_readings=sum(p.meter_readings for p in parts),
            blocks=tuple(b for p in parts for b in p.blocks),
        )  # fmt: skip
    kpis = [p.kpi for p in parts if p.kpi is not None]
    summed = total(kpis)
    covered = sum(p.end_ms - p.start_ms for p in parts) / 1000
    metered = any(k.energy_kwh is not None for k in kpis)
    summed = replace(
        summed,
        no_data_s=summed.no_data_s + max(window.seconds - covered, 0.0),
        energy_kwh=(summed.energy_kwh or 0.0) if metered else None,
    )
    chains: list[Chain] = []
    for c in (c for p in parts for c in p.chains):
        last = chains[-1] if chains else None
        if last is not None and c.first_ms - last.last_ms <= merge_s * 1000:
            chains[-1] = Chain(last.first_ms, c.last_ms, max(last.peak_z, c.peak_z), last.joined)
        else:
            chains.append(c)
    newest = [p.newest_ms for p in parts if p.newest_ms is not None]
    return Entry(
        path=first.path,
        start_ms=window.start_ms,
        end_ms=window.end_ms,
        kpi=summed,
        blocks=tuple(b for p in parts for b in p.blocks),
        idle_s=sum(p.idle_s for p in parts),
        breakdowns=tuple(t for p in parts for t in p.breakdowns),
        chains=tuple(chains),
        newest_ms=max(newest) if newest else None,
        sensor=any(p.sensor for p in parts),
        hours=tuple(h for p in parts for h in p.hours),
    )


def compose_all(
    entries: Iterable[Entry], window: Window, *, merge_s: float = 600.0
) -> dict[MachinePath, Entry]:
    """:func:`compose` for every machine and meter among ``entries``."""
    by_path: dict[MachinePath, list[Entry]] = {}
    for e in entries:
        by_path.setdefault(e.path, []).append(e)
    return {p: compose(es, window, merge_s=merge_s) for p, es in sorted(by_path.items())}


# -- As stored: one JSON text per entry (floats as Python writes them: they read back equal).

_OEE_FIELDS = tuple(f.name for f in fields(Oee))


def to_json(entry: Entry) -> str:
    doc: dict[str, Any] = {}
    if entry.kpi is not None:
        doc["kpi"] = {
            f: (dict(v) if isinstance(v, Mapping) else v)
            for f in _OEE_FIELDS
            if (v := getattr(entry.kpi, f)) != getattr(_EMPTY, f)
        }
        doc["idle_s"] = entry.idle_s
        doc["breakdowns"] = list(entry.breakdowns)
        doc["chains"] = [[c.first_ms, c.last_ms, c.peak_z, c.joined] for c in entry.chains]
        doc["newest_ms"] = entry.newest_ms
        doc["sensor"] = entry.sensor
        doc["hours"] = [list(h) for h in entry.hours]
    else:
        doc["meter_kwh"] = entry.meter_kwh
        doc["meter_readings"] = entry.meter_readings
    doc["blocks"] = [list(b) for b in entry.blocks]
    return json.dumps(doc, separators=(",", ":"))


_EMPTY = Oee()


def from_json(path: MachinePath, start_ms: int, end_ms: int, text: str) -> Entry:
    doc = json.loads(text)
    blocks = tuple((int(t), float(v)) for t, v in doc.get("blocks", ()))
    if "kpi" not in doc:
        return Entry(path=path, start_ms=start_ms, end_ms=end_ms, meter_kwh=doc["meter_kwh"],
                     meter_readings=doc["meter_readings"], blocks=blocks)  # fmt: skip
    return Entry(
        path=path,
        start_ms=start_ms,
        end_ms=end_ms,
        kpi=Oee(**doc["kpi"]),
        blocks=blocks,
        idle_s=doc["idle_s"],
        breakdowns=tuple(doc["breakdowns"]),
        chains=tuple(Chain(int(a), int(b), float(z), bool(j)) for a, b, z, j in doc["chains"]),
        newest_ms=doc["newest_ms"],
        sensor=doc["sensor"],
        hours=tuple((int(h), int(u), k, float(n)) for h, u, k, n in doc["hours"]),
    )
