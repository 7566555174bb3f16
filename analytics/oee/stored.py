"""Reports from stored accounts: a window is composed of the stored entries of the whole
days and hours inside it that are current, and entries computed from raw readings for
the rest (its partial hours at the edges, and hours whose account is missing or stale).

An account is **current** when no change mark (``telemetry.layout.CHANGES``) that could
affect its period expired after the account's readings were read. A reading changes the
accounts of periods up to :func:`reach` before and after it (the state at a window's
start, the length of a stop across an edge, the anomaly detector's history), so a mark
of a 5-minute bucket of device time reaches that far on both sides.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from analytics.oee.accounts import Kpi, Window
from analytics.oee.analysis import By, Period, analyse, margins, periods
from analytics.oee.anomaly import Detector
from analytics.oee.book import Book
from analytics.oee.ledger import Entry, compose_all, from_json
from core.clock import DAY_MS, HOUR_MS, iso
from plant.model import Plant
from store import Reader
from store.base import BUCKET_MS
from telemetry.layout import ALL, TAGS, FieldDef, Table
from telemetry.topic import MachinePath

# Period accounts (analytics.oee.ledger entries), written by the aggregation (`factory aggregate`)
# and read back by reports: one per machine or main meter, period ("hour", "day") and
# period start. ``computed_ms`` is when the readings behind it were read: an account is
# current unless a change mark (below) newer than that touches its period.
ACCOUNT = Table(
    "account",
    (FieldDef("end_ms", "int", required=True), FieldDef("computed_ms", "int", required=True),
     FieldDef("entry", "str", required=True)),
    tags=(*TAGS, "period"),
    key=("period", "ts", *TAGS),
)  # fmt: skip


SENTINEL = MachinePath(ALL, ALL, ALL, ALL)
"""The account row that says a period was accounted (its entry text ``{}``): a period
with no machine reporting has no entries, but is accounted all the same."""


def reach(plant: Plant | None, max_gap_s: float, *, anomalies: bool) -> tuple[int, int]:
    """(before, after): how far from a reading the accounts it changes can lie: what
    :func:`analytics.oee.analysis.analyse` reads around a window, the other way round."""
    read_before, read_after = margins(plant, max_gap_s, anomalies=anomalies)
    return read_after, read_before


@dataclass(frozen=True, slots=True)
class Changes:
    """The change marks in the store: (bucket start, until)."""

    marks: Sequence[tuple[int, int]]
    before_ms: int
    after_ms: int

    def stale(self, window: Window, computed_ms: int) -> bool:
        """Whether readings written after ``computed_ms`` may change ``window``'s account."""
        return any(
            until > computed_ms
            and bucket - self.before_ms < window.end_ms
            and bucket + BUCKET_MS + self.after_ms > window.start_ms
            for bucket, until in self.marks
        )

    def dirty(self) -> list[tuple[int, int]]:
        """The spans of device time whose accounts the marks may change, merged."""
        spans = sorted((b - self.before_ms, b + BUCKET_MS + self.after_ms) for b, _ in self.marks)
        out: list[tuple[int, int]] = []
        for a, b in spans:
            if out and a <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], b))
            else:
                out.append((a, b))
        return out


def whole(window: Window, by: By, plant: Plant | None) -> list[Window]:
    """The clock hours or days wholly inside ``window``."""
    pad = DAY_MS if by == "day" else HOUR_MS
    around = periods(Window(window.start_ms - pad, window.end_ms + pad), by, plant)
    return [
        p.window
        for p in around
        if p.window.start_ms >= window.start_ms and p.window.end_ms <= window.end_ms
    ]


@dataclass(slots=True)
class Found:
    """Stored entries of one period kind, by period start, with when each was computed."""

    entries: dict[int, list[Entry]]
    computed: dict[int, int]
    ends: dict[int, int]
    anomalies: dict[int, bool]
    """Whether anomaly alarms were looked for when the period was accounted."""

    def usable(self, w: Window, changes: Changes, *, anomalies: bool = False) -> bool:
        c = self.computed.get(w.start_ms)
        if c is None or self.ends[w.start_ms] != w.end_ms or changes.stale(w, c):
            return False
        return self.anomalies[w.start_ms] or not anomalies


async def read_found(reader: Reader, kind: str, start_ms: int, end_ms: int) -> Found:
    rows = await reader.read_accounts(ACCOUNT, kind, start_ms, end_ms)
    found = Found({}, {}, {}, {})
    for r in rows:
        if r.path == SENTINEL:
            found.computed[r.start_ms] = r.computed_ms
            found.ends[r.start_ms] = r.end_ms
            found.anomalies[r.start_ms] = bool(json.loads(r.entry).get("anomalies"))
            found.entries.setdefault(r.start_ms, [])
    for r in rows:
        if r.path != SENTINEL and r.start_ms in found.computed:
            found.entries[r.start_ms].append(from_json(r.path, r.start_ms, r.end_ms, r.entry))
    return found


def _gaps(window: Window, covered: Iterable[Window]) -> list[Window]:
    out, at = [], window.start_ms
    for w in sorted(covered, key=lambda w: w.start_ms):
        if w.start_ms > at:
            out.append(Window(at, w.start_ms))
        at = max(at, w.end_ms)
    if at < window.end_ms:
        out.append(Window(at, window.end_ms))
    return out


def _sources(stored: list[Window], raw: list[Window]) -> list[dict[str, str]]:
    items = sorted([(w, "accounts") for w in stored] + [(w, "raw") for w in raw],
                   key=lambda x: x[0].start_ms)  # fmt: skip
    out: list[dict[str, str]] = []
    last: tuple[int, str] | None = None
    for w, source in items:
        if last is not None and last == (w.start_ms, source):
            out[-1]["to"] = iso(w.end_ms)
        else:
            out.append({"from": iso(w.start_ms), "to": iso(w.end_ms), "source": source})
        last = (w.end_ms, source)
    return out


@dataclass(slots=True)
class Recent:
    """Hour entries this process computed from raw readings, kept and used like stored
    accounts while the same change marks say they are current: a window that moves (the
    dashboard's live view) recomputes only its new edge and the hours that late readings
    reach, even when no `factory aggregate` stores accounts. Bounded to ``limit`` hours
    (the oldest go: a day of the large plant's 500 machines is a few tens of MB); shared by
    the report threads of one server."""

    limit: int = 24
    hits: int = 0
    """Hours served from here (rather than from raw readings)."""
    _hours: dict[tuple[int, int, bool], tuple[int, list[Entry]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, w: Window, changes: Changes, *, anomalies: bool) -> list[Entry] | None:
        with self._lock:
            kept = self._hours.get((w.start_ms, w.end_ms, anomalies))
            if kept is None or changes.stale(w, kept[0]):
                return None
            self.hits += 1
            return kept[1]

    def put(self, w: Window, computed_ms: int, entries: list[Entry], *, anomalies: bool) -> None:
        with self._lock:
            self._hours[(w.start_ms, w.end_ms, anomalies)] = (computed_ms, entries)
            while len(self._hours) > self.limit:
                del self._hours[min(self._hours)]


async def book_from_store(
    reader: Reader,
    window: Window,
    *,
    plant: Plant | None = None,
    by: By | None = None,
    max_gap_s: float = 60.0,
    detector: Detector | None = None,
    recent: Recent | None = None,
) -> Book:
    """The book of ``window`` from the current stored accounts (and ``recent`` hours this
    process computed before), and raw readings for the rest; equal to
    :func:`analytics.oee.book.book_of` over the raw readings of the window."""
    before, after = reach(plant, max_gap_s, anomalies=detector is not None)
    marks, days = await asyncio.gather(
        reader.read_changes(0), read_found(reader, "day", window.start_ms, window.end_ms)
    )
    changes = Changes(marks, before, after)
    split = periods(window, by, plant)
    # Whole days where no period cuts them finer; hours elsewhere, raw for the rest.
    cuts = {t for p in split for t in (p.window.start_ms, p.window.end_ms)}

    def fits(w: Window, found: Found) -> bool:
        if any(w.start_ms < t < w.end_ms for t in cuts):
            return False
        return found.usable(w, changes, anomalies=detector is not None)

    used: list[Window] = []
    parts: list[Entry] = []
    day_windows = [d for d in whole(window, "day", plant) if fits(d, days)]
    for d in day_windows:
        used.append(d)
        parts += days.entries[d.start_ms]
    # Hour accounts are read only where no day account serves.
    for gap in _gaps(window, day_windows):
        hours = await read_found(reader, "hour", gap.start_ms, gap.end_ms)
        for h in whole(gap, "hour", plant):
            if fits(h, hours):
                used.append(h)
                parts += hours.entries[h.start_ms]
    anomalies = detector is not None
    kept: list[Window] = []
    if recent is not None:  # hours computed before from raw readings, still current
        for gap in _gaps(window, used):
            for h in whole(gap, "hour", plant):
                got = None if any(h.start_ms < t < h.end_ms for t in cuts) else (
                    recent.get(h, changes, anomalies=anomalies))  # fmt: skip
                if got is not None:
                    kept.append(h)
                    parts += got
    raw = _gaps(window, used + kept)
    raw_kpis: list[tuple[Window, dict[MachinePath, Kpi]]] = []
    for span in raw:
        computed = int(time.time() * 1000)  # before the read: marks after it make it stale
        analysis = await analyse(reader, span, plant=plant, max_gap_s=max_gap_s,
                                 detector=detector)  # fmt: skip
        parts += analysis.entries(span)
        for p in split:
            w = _overlap(p.window, span)
            if w is not None:
                raw_kpis.append((w, analysis.accounts(w)))
        if recent is not None:
            for h in whole(span, "hour", plant):
                recent.put(h, computed, analysis.entries(h), anomalies=anomalies)
    entries = compose_all(parts, window, merge_s=detector.merge_s if detector else 600.0)
    book = Book(window=window, entries=entries, anomalies=anomalies,
                sources=_sources(used, raw + kept))  # fmt: skip
    metered = {p for p, e in entries.items() if e.kpi is not None and e.kpi.energy_kwh is not None}
    machines = {p: p in metered for p, e in entries.items() if e.kpi is not None}
    book.periods = [(p, _period_kpis(p, parts, raw_kpis, machines)) for p in split]
    return book


def _overlap(a: Window, b: Window) -> Window | None:
    lo, hi = max(a.start_ms, b.start_ms), min(a.end_ms, b.end_ms)
    return Window(lo, hi) if hi > lo else None


def _period_kpis(
    period: Period,
    parts: list[Entry],
    raw: list[tuple[Window, dict[MachinePath, Kpi]]],
    machines: dict[MachinePath, bool],
) -> dict[MachinePath, Kpi]:
    """Every machine's account over a period (a machine with nothing in it: no data)."""
    w = period.window
    inside = [e for e in parts if w.start_ms <= e.start_ms and e.end_ms <= w.end_ms]
    # Stored entries inside the period, and the raw accounts of the rest of it; a raw span's
    # entry already counted (it lies wholly inside) is replaced by its accounts.
    inside = [e for e in inside if not any(_overlap(e.window, rw) for rw, _ in raw)]
    for rw, kpis in raw:
        if _overlap(rw, w) is not None:
            for path, k in kpis.items():
                inside.append(Entry(path=path, start_ms=rw.start_ms, end_ms=rw.end_ms, kpi=k))
    for path, metered in machines.items():
        empty = Kpi(no_data_s=0.0, energy_kwh=0.0 if metered else None)
        inside.append(Entry(path=path, start_ms=w.start_ms, end_ms=w.start_ms, kpi=empty))
    return {p: e.as_kpi() for p, e in compose_all(inside, w).items() if e.kpi is not None}
