"""Alert rules: those of ``[alerts]`` evaluated against the store, each alert fired once
and resolved when its condition clears.

Every evaluation (:meth:`Evaluator.once`, run by `factory aggregate` every
``FACTORY_ALERTS__EVERY_S``) computes the conditions that hold now:

- ``breakdown``: a machine whose newest reading is DOWN and has been for
  ``breakdown_minutes`` (subject: the machine; the message names the reason it sent);
- ``silent``: a machine without readings for ``silent_s``; a gateway of the plant model
  whose machines all are silent, or whose retained status says offline, is one alert for
  the gateway (subject ``gateway:NAME``) instead of one per machine;
- ``oee`` / ``availability``: a line below its target over the current shift so far, once
  ``min_shift_minutes`` of it have run (plant model: shifts and targets);
- ``anomaly``: an anomaly event of a machine's vibration in the shift so far, until it has
  been quiet for ten minutes;
- ``demand``: a site's demand on its main meter over the last 15 minutes at
  ``demand_share`` of its contracted maximum;
- ``energy_intensity``: a line's kWh per good unit over the shift so far above
  ``intensity_factor`` times the same over the ``baseline_days`` before the shift;
- ``deadletters``: more than ``deadletters`` rejected messages kept in the store.

A condition without an open alert of its rule and subject fires one (a point of
``alerting.state.ALERT``, stamped now); an open alert whose condition no longer holds is
resolved (``resolved_ms``); an alert is acknowledged by a person (``acked_by``). Only the
rules evaluated in a pass resolve: a rule that could not be evaluated keeps its alerts open.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from alerting.config import AlertsConfig
from alerting.state import Alert, Condition, read_alerts, transitions
from analytics.oee.accounts import Window, machine_params
from analytics.oee.analysis import group
from analytics.oee.anomaly import Detector
from analytics.oee.stops import of_readings
from analytics.oee.stored import book_from_store
from core.clock import BLOCK_MS, DAY_MS
from core.i18n import ENGLISH, Lang
from plant.model import Plant
from store import Reader, Store
from store.series import MachineData
from telemetry.layout import STATUS
from telemetry.models import DOWN
from telemetry.topic import MachinePath

log = logging.getLogger("factory.alerts")


def _minutes(ms: float, lang: Lang = ENGLISH) -> str:
    m = int(ms // 60_000)
    if m >= 60:
        return lang.gettext("{h} h {m} min").format(h=m // 60, m=f"{m % 60:02d}")
    return lang.gettext("{m} min").format(m=m)


@dataclass(slots=True)
class Snapshot:
    """What the conditions are computed from (:func:`snapshot`)."""

    now_ms: int
    lookback_ms: int
    newest: dict[MachinePath, int] = field(default_factory=dict)
    """Newest reading (telemetry or energy) of each machine in the lookback."""
    down_since: dict[MachinePath, tuple[int, str]] = field(default_factory=dict)
    """Machines in a breakdown (:mod:`analytics.oee.stops`) that still goes on, their newest
    reading DOWN: since when the stop began, and the reason the machine sends now."""
    offline: dict[MachinePath, int] = field(default_factory=dict)
    """Paths whose newest retained status says offline, and since when."""
    demand_kw: dict[str, float] = field(default_factory=dict)
    """Each site's mean kW over the last 15 minutes on its main meter."""
    deadletters: int | None = None


class Evaluator:
    """Evaluates the rules against one store and keeps the ``alert`` points current."""

    def __init__(
        self,
        store: Store,
        reader: Reader,
        config: AlertsConfig,
        *,
        plant: Plant | None = None,
        max_gap_s: float = 60.0,
        anomaly_z: float = 8.0,
        lang: Lang = ENGLISH,
    ) -> None:
        self.lang = lang
        self.store = store
        self.reader = reader
        self.config = config
        self.plant = plant
        self.max_gap_s = max_gap_s
        self.detector = Detector(z=anomaly_z) if config.anomaly else None
        self._baseline: tuple[int, dict[str, float]] = (-1, {})
        """(shift start, each line's kWh per good unit before it): computed once a shift."""

    async def snapshot(self, now_ms: int) -> Snapshot:
        cfg = self.config
        lookback = int(max(2 * cfg.breakdown_minutes * 60_000, 2 * cfg.silent_s * 1000, 1_800_000))
        snap = Snapshot(now_ms, lookback)
        data = await self.reader.read(now_ms - lookback, now_ms)
        down: dict[MachinePath, MachineData] = {}
        for path, d in data.items():
            times = [s.t_ms[-1] for s in (d.telemetry, d.energy) if s is not None and len(s.t_ms)]
            if times:
                snap.newest[path] = int(max(times))
            if d.telemetry is not None and len(d.telemetry.t_ms) and d.telemetry.state[-1] == DOWN:
                down[path] = d
        # Breakdowns as everywhere else (analytics.oee.stops), of the machines DOWN now.
        params = machine_params(self.plant, self.max_gap_s)
        for stop in of_readings(down, params, Window(now_ms - lookback, now_ms)):
            if stop.open and stop.loss == "breakdown":
                tel = down[stop.path].telemetry
                assert tel is not None
                snap.down_since[stop.path] = (stop.start_ms, tel.reasons[int(tel.reason[-1])])
        status = await self.reader.read_rows(STATUS, now_ms - cfg.history_days * DAY_MS, now_ms + 1)
        latest: dict[MachinePath, tuple[int, bool]] = {}
        for r in status:
            path = MachinePath(*(r.tags[t] for t in ("site", "area", "line", "machine")))
            latest[path] = (r.ts_ms, bool(r.fields.get("online", True)))
        snap.offline = {p: t for p, (t, online) in latest.items() if not online}
        for path, meter in self.plant.main_meters() if self.plant else []:
            if meter.contracted_kw is None:
                continue
            en = data[path].energy if path in data else None
            if en is None:
                continue
            keep = en.t_ms >= now_ms - BLOCK_MS
            t, e = en.t_ms[keep], en.energy_kwh[keep]
            if len(t) >= 2 and t[-1] - t[0] >= 300_000 and e[-1] >= e[0]:
                snap.demand_kw[path.site] = float((e[-1] - e[0]) / ((t[-1] - t[0]) / 3.6e6))
        if cfg.deadletters > 0:
            letters = self.store.deadletters(source="alerts", max_payload_bytes=0)
            snap.deadletters = await letters.count()
        return snap

    def machines(self, snap: Snapshot) -> list[MachinePath]:
        if self.plant is not None:
            return [p for p, _ in self.plant.machines()] + [p for p, _ in self.plant.main_meters()]
        return sorted(set(snap.newest) | set(snap.down_since))

    def live(self, snap: Snapshot) -> list[Condition]:
        """breakdown, silent, demand, deadletters: from the newest readings."""
        cfg, now, out = self.config, snap.now_ms, []
        _, lang = self.lang.gettext, self.lang
        if cfg.breakdown_minutes > 0:
            for path, (since, reason) in sorted(snap.down_since.items()):
                if now - since >= cfg.breakdown_minutes * 60_000:
                    out.append(
                        Condition(
                            "breakdown",
                            str(path),
                            _("{machine} down ({reason}) for {minutes}").format(
                                machine=path, reason=reason, minutes=_minutes(now - since, lang)
                            ),
                            round((now - since) / 60_000, 1),
                            cfg.breakdown_minutes,
                        )
                    )
        if cfg.silent_s > 0:
            out += self._silent(snap)
        if cfg.demand_share > 0 and self.plant is not None:
            for path, meter in self.plant.main_meters():
                kw = snap.demand_kw.get(path.site)
                if kw is None or meter.contracted_kw is None:
                    continue
                limit = cfg.demand_share * meter.contracted_kw
                if kw >= limit:
                    out.append(
                        Condition(
                            "demand",
                            path.site,
                            _(
                                "site {site}: {kw} kW over the last 15 minutes, {share} of "
                                "the contracted {contracted} kW"
                            ).format(
                                site=path.site,
                                kw=lang.num(kw),
                                share=lang.pct(kw / meter.contracted_kw, 0),
                                contracted=lang.num(meter.contracted_kw),
                            ),
                            round(kw, 1),
                            round(limit, 1),
                        )
                    )
        if snap.deadletters is not None and snap.deadletters > cfg.deadletters:
            out.append(
                Condition(
                    "deadletters",
                    "store",
                    _("{n} rejected messages kept (`factory deadletter list`)").format(
                        n=lang.num(snap.deadletters)
                    ),
                    snap.deadletters,
                    cfg.deadletters,
                )
            )
        return out

    def _silent(self, snap: Snapshot) -> list[Condition]:
        cfg, now = self.config, snap.now_ms
        _, lang = self.lang.gettext, self.lang
        limit = cfg.silent_s * 1000

        def since(path: MachinePath) -> int | None:
            """When it last sent (the lookback's start if not in it); None: not silent."""
            t = snap.newest.get(path)
            if t is not None and now - t < limit:
                return None
            return t if t is not None else now - snap.lookback_ms

        machines = self.machines(snap)
        silent = {p: s for p in machines if (s := since(p)) is not None}
        out: list[Condition] = []
        covered: set[MachinePath] = set()
        offline = dict(snap.offline)
        for gw in self.plant.gateway_plan() if self.plant else []:
            mine = [p for p in machines if p.key("line") in gw.lines]
            status = [t for p, t in offline.items() if p.machine == gw.name]
            for p in [p for p in offline if p.machine == gw.name]:
                del offline[p]
            quiet = bool(mine) and all(p in silent for p in mine)
            if not (quiet or status):
                continue
            covered.update(mine)
            what = (
                _("its {n} machine(s) have sent nothing for {minutes}").format(
                    n=len(mine), minutes=_minutes(now - max(silent[p] for p in mine), lang)
                )
                if quiet
                else ""
            )
            if status:
                off = _("offline since {minutes}").format(minutes=_minutes(now - max(status), lang))
                what = f"{off}; {what}" if what else off
            said = _("gateway {name}: {what}").format(name=gw.name, what=what)
            out.append(Condition("silent", f"gateway:{gw.name}", said))
        for path, t in sorted(silent.items()):
            if path not in covered:
                out.append(
                    Condition(
                        "silent",
                        str(path),
                        _("{machine}: no readings for {minutes}").format(
                            machine=path, minutes=_minutes(now - t, lang)
                        ),
                        round((now - t) / 1000),
                        cfg.silent_s,
                    )
                )
        for path, t in sorted(offline.items()):
            if path not in covered and path not in silent:
                out.append(
                    Condition(
                        "silent",
                        str(path),
                        _("{machine} reported offline {minutes} ago").format(
                            machine=path, minutes=_minutes(now - t, lang)
                        ),
                    )
                )
        return out

    def _target(self, line: str, rule: str) -> float:
        default = self.config.oee_target if rule == "oee" else self.config.availability_target
        model = self.plant.line_models().get(line) if self.plant is not None else None
        own = None if model is None else getattr(model, f"{rule}_target")
        return own if own is not None else default

    def current_shift(self, now_ms: int) -> tuple[int, str] | None:
        if self.plant is None:
            return None
        for a, b, kind, name in self.plant.calendar.periods(now_ms - DAY_MS, now_ms + 1):
            if kind == "shift" and a <= now_ms < b:
                return a, name
        return None

    async def shift(self, now_ms: int) -> list[Condition]:
        """oee, availability, anomaly, energy_intensity: over the shift so far."""
        cfg, out = self.config, list[Condition]()
        current = self.current_shift(now_ms)
        if current is None or now_ms - current[0] < cfg.min_shift_minutes * 60_000:
            return out
        start, name = current
        book = await book_from_store(
            self.reader,
            Window(start, now_ms),
            plant=self.plant,
            max_gap_s=self.max_gap_s,
            detector=self.detector,
        )
        lines = group(book.machines, "line")
        _, lang = self.lang.gettext, self.lang
        so_far = _("the {shift} shift so far ({minutes})").format(
            shift=name, minutes=_minutes(now_ms - start, lang)
        )
        for line, k in sorted(lines.items()):
            for rule in ("oee", "availability"):
                target, value = self._target(line, rule), getattr(k, rule)
                if target > 0 and value is not None and value < target:
                    label = "OEE" if rule == "oee" else _("availability")
                    out.append(
                        Condition(
                            rule,
                            line,
                            _("{line}: {kpi} {value} over {so_far}, target {target}").format(
                                line=line,
                                kpi=label,
                                value=lang.pct(value, 0),
                                so_far=so_far,
                                target=lang.pct(target, 0),
                            ),
                            round(value, 4),
                            target,
                        )
                    )
        if self.detector is not None:
            for e in book.events():
                if now_ms - e.end_ms <= 600_000:
                    out.append(
                        Condition(
                            "anomaly",
                            f"{e.path}:{e.signal}",
                            _(
                                "{machine}: {signal} anomaly since {minutes} ago (peak z {z})"
                            ).format(
                                machine=e.path,
                                signal=e.signal,
                                minutes=_minutes(now_ms - e.start_ms, lang),
                                z=lang.num(e.peak_z),
                            ),
                            round(e.peak_z, 1),
                            self.detector.z,
                        )
                    )
        if cfg.intensity_factor > 0:
            base = await self.baselines(start)
            for line, k in sorted(lines.items()):
                ref, now_i = base.get(line), k.kwh_per_good_unit
                if ref and now_i is not None and now_i > cfg.intensity_factor * ref:
                    out.append(
                        Condition(
                            "energy_intensity",
                            line,
                            _(
                                "{line}: {kwh} kWh per good unit over {so_far}, {factor} x "
                                "its {days}-day baseline {baseline}"
                            ).format(
                                line=line,
                                kwh=lang.num(now_i, 3),
                                so_far=so_far,
                                factor=lang.num(now_i / ref, 1),
                                days=cfg.baseline_days,
                                baseline=lang.num(ref, 3),
                            ),
                            round(now_i, 4),
                            round(cfg.intensity_factor * ref, 4),
                        )
                    )
        return out

    async def baselines(self, shift_start: int) -> dict[str, float]:
        """Each line's kWh per good unit over the baseline days before the shift (computed
        once a shift)."""
        if self._baseline[0] != shift_start:
            days = self.config.baseline_days
            window = Window(shift_start - days * DAY_MS, shift_start)
            book = await book_from_store(
                self.reader, window, plant=self.plant, max_gap_s=self.max_gap_s
            )
            per_line = group(book.machines, "line")
            found = {ln: k.kwh_per_good_unit for ln, k in per_line.items() if k.kwh_per_good_unit}
            self._baseline = (shift_start, found)
        return self._baseline[1]

    async def conditions(self, now_ms: int) -> tuple[list[Condition], set[str]]:
        """The conditions that hold now, and the rules evaluated."""
        snap = await self.snapshot(now_ms)
        out = self.live(snap)
        rules = {"breakdown", "silent", "demand", "deadletters"}
        if self.plant is not None:
            out += await self.shift(now_ms)
            rules |= {"oee", "availability", "anomaly", "energy_intensity"}
        return out, rules

    async def once(self, now_ms: int | None = None) -> tuple[list[Alert], list[Alert]]:
        """One evaluation: the alerts it fired and those it resolved (both stored)."""
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        history = await read_alerts(self.reader, now - self.config.history_days * DAY_MS, now + 1)
        conditions, rules = await self.conditions(now)
        fired, resolved, changed = transitions(
            [a for a in history if a.open], conditions, rules, now
        )
        points = [a.point() for a in (*fired, *resolved, *changed)]
        if points:
            await self.store.write_points(points)
        for a in fired:
            log.warning("alert %s: %s", a.rule, a.message)
        for a in resolved:
            log.warning("resolved %s after %.0f min: %s", a.rule, a.minutes(now), a.message)
        return fired, resolved
