"""A book: what a report is built from (:func:`analytics.report.build.build`), whichever way its
parts were found: computed from raw readings, or composed from stored accounts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analytics.oee.accounts import Kpi, Window
from analytics.oee.analysis import Analysis, Period
from analytics.oee.anomaly import SIGNAL, Event
from analytics.oee.ledger import Entry
from core.clock import iso
from telemetry.topic import MachinePath


@dataclass(slots=True)
class Book:
    """What a report is built from: every machine's and main meter's entry over the window
    (:mod:`analytics.oee.ledger`), the machines' accounts per period, and where each part of
    the window came from (computed from raw readings, or stored accounts)."""

    window: Window
    entries: dict[MachinePath, Entry]
    periods: list[tuple[Period, dict[MachinePath, Kpi]]] = field(default_factory=list)
    anomalies: bool = False
    """Whether anomaly alarms were looked for."""
    sources: list[dict[str, Any]] = field(default_factory=list)

    @property
    def machines(self) -> dict[MachinePath, Kpi]:
        return {p: e.as_kpi() for p, e in self.entries.items() if e.kpi is not None}

    @property
    def meters(self) -> dict[MachinePath, Entry]:
        return {p: e for p, e in self.entries.items() if e.kpi is None}

    def events(self) -> list[Event]:
        """Anomaly events that start in the window: alarm chains not joined to an earlier one."""
        out = [
            Event(p, SIGNAL, c.first_ms, c.last_ms, c.peak_z)
            for p, e in self.entries.items()
            for c in e.chains
            if not c.joined
        ]
        return sorted(out, key=lambda e: (e.start_ms, str(e.path)))

    def narrow(self, **only: str | None) -> None:
        """Keep only the machines (and main meters) of a site, area, line or machine."""

        def keep(path: MachinePath) -> bool:
            return all(v is None or getattr(path, k) == v for k, v in only.items())

        # A main meter measures a whole site: it stays only when whole sites are kept.
        site, finer = only.get("site"), any(only.get(k) for k in ("area", "line", "machine"))
        self.entries = {
            p: e for p, e in self.entries.items()
            if (keep(p) if e.kpi is not None else not finer and site in (None, p.site))
        }  # fmt: skip
        self.periods = [(p, {m: k for m, k in ks.items() if keep(m)}) for p, ks in self.periods]


def book_of(analysis: Analysis) -> Book:
    """The book of an analysis of raw readings (the whole window computed from them)."""
    w = analysis.window
    return Book(
        window=w,
        entries={e.path: e for e in analysis.entries(w)},
        periods=analysis.periods,
        anomalies=analysis.detector is not None,
        sources=[{"from": iso(w.start_ms), "to": iso(w.end_ms), "source": "raw"}],
    )
