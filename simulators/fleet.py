"""A fleet of simulated machines and the readings their devices would send."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from plant.model import Plant
from plant.oee import Oee, total
from plant.plan import Plan
from simulators.machine import (
    MachineRun,
    MachineSpec,
    Stop,
    calendar_plan,
    simulate_machine,
)
from simulators.mainmeter import MainMeterRun, simulate_main_meter
from simulators.sensors import SensorSpec, SensorTrack, simulate_sensors
from simulators.truth import window_truth
from telemetry.codec import encode_one, energy_texts, telemetry_texts
from telemetry.models import RUN, STATE_NAMES, Channel
from telemetry.topic import MachinePath

WireReading = dict[str, Any]

# Power factor of a meter by state when not running (index: state code).
_IDLE_PF = np.array([0.9, 0.55, 0.4, 0.6, 0.45, 0.3])


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """What to simulate. Same config and seed, same readings."""

    machines: int = 6
    lines: int = 2
    hours: float = 8.0
    seed: int = 42
    start_ms: int = 1_767_600_000_000  # 2026-01-05T08:00:00Z
    interval_s: float = 5.0
    site: str = "plant1"
    area: str = "assembly"
    sensors: bool = True
    """Process sensors (temperature, vibration) with injected bearing faults."""
    meter_details: bool = True
    """Meters report power factor and voltage besides power and energy."""

    def __post_init__(self) -> None:
        if self.machines < 1:
            raise ValueError("machines must be at least 1")
        if self.lines < 1:
            raise ValueError("lines must be at least 1")
        if not (0 < self.hours <= 24 * 92):
            raise ValueError("hours must be more than 0 and at most 2208 (92 days)")
        if not (0.1 <= self.interval_s <= 3600):
            raise ValueError("interval_s must be between 0.1 and 3600 seconds")


@dataclass(frozen=True, slots=True)
class MachineStream:
    """The sampling instants of one machine and its readings at those instants."""

    path: MachinePath
    run: MachineRun
    times_ms: np.ndarray[Any, np.dtype[np.int64]]
    sensors: SensorTrack | None = None
    meter_details: bool = True

    def _telemetry_columns(self, lo: int, hi: int) -> tuple[list[Any], ...]:
        """The fields of readings [lo, hi) as Python lists (``tolist`` once per column)."""
        t = self.times_ms[lo:hi]
        seg = self.run._segment_of(t)
        total, good = self.run.counts(t)
        states = [STATE_NAMES[c] for c in self.run.seg_state[seg].tolist()]
        products = [p for p, _ in self.run.spec.products]
        product = [products[i] for i in self.run.seg_product[seg].tolist()]
        reasons = [self.run.seg_reason[i] for i in seg.tolist()]
        cycles = self.run.ideal_cycle[seg].tolist()
        temps: list[Any] = []
        vibs: list[Any] = []
        if self.sensors is not None:
            temps = self.sensors.temperature_c[lo:hi].tolist()
            vibs = self.sensors.vibration_mm_s[lo:hi].tolist()
        return (
            t.tolist(),
            states,
            total.tolist(),
            good.tolist(),
            cycles,
            product,
            reasons,
            temps,
            vibs,
        )

    def telemetry(self, lo: int, hi: int) -> list[WireReading]:
        """Telemetry readings with index in [lo, hi): the index is the ``seq``."""
        ts, states, totals, goods, cycles, product, reasons, temps, vibs = self._telemetry_columns(
            lo, hi
        )
        out = []
        for k in range(len(ts)):
            reading: WireReading = {
                "ts": ts[k],
                "seq": lo + k,
                "state": states[k],
                "total_count": totals[k],
                "good_count": goods[k],
                "ideal_cycle_s": cycles[k],
                "product": product[k],
            }
            if reasons[k] is not None:
                reading["reason"] = reasons[k]
            if temps:
                reading["sensors"] = {"temperature_c": temps[k], "vibration_mm_s": vibs[k]}
            out.append(reading)
        return out

    def telemetry_json(self, lo: int, hi: int) -> list[str]:
        """The same readings as compact JSON text (the contract's fast path, byte for byte
        what the wire encoder makes of :meth:`telemetry`): the hot path of load generation."""
        ts, states, totals, goods, cycles, product, reasons, temps, vibs = self._telemetry_columns(
            lo, hi
        )
        sensors = {"temperature_c": temps, "vibration_mm_s": vibs} if temps else None
        return telemetry_texts(lo, ts, states, totals, goods, cycles, product, reasons, sensors)

    def _energy_columns(self, lo: int, hi: int) -> tuple[list[Any], ...]:
        t = self.times_ms[lo:hi]
        seg = self.run._segment_of(t)
        register = self.run.spec.register(self.run.energy_kwh(t)).tolist()
        power = np.round(self.run.seg_power_kw[seg], 3).tolist()
        if not self.meter_details:
            return t.tolist(), power, register, [], []
        state, speed = self.run.seg_state[seg], self.run.seg_speed[seg]
        pf = np.round(np.where(state == RUN, 0.78 + 0.12 * speed, _IDLE_PF[state]), 3).tolist()
        # The supply drifts slowly around 400 V (a deterministic daily wave).
        volts = np.round(400.0 + 4.0 * np.sin(t / 3.6e6 * 2 * np.pi / 24), 1).tolist()
        return t.tolist(), power, register, pf, volts

    def energy(self, lo: int, hi: int) -> list[WireReading]:
        """Meter readings: power, the cumulative register, power factor, voltage."""
        ts, power, register, pf, volts = self._energy_columns(lo, hi)
        if not pf:
            return [
                {"ts": t, "seq": lo + k, "power_kw": power[k], "energy_kwh": register[k]}
                for k, t in enumerate(ts)
            ]
        return [
            {"ts": t, "seq": lo + k, "power_kw": power[k], "energy_kwh": register[k],
             "power_factor": pf[k], "voltage_v": volts[k]}
            for k, t in enumerate(ts)
        ]  # fmt: skip

    def energy_json(self, lo: int, hi: int) -> list[str]:
        """:meth:`energy` as compact JSON text (see :meth:`telemetry_json`)."""
        ts, power, register, pf, volts = self._energy_columns(lo, hi)
        return energy_texts(lo, ts, power, register, pf or None, volts or None)


class Fleet:
    """Simulated machines with their readings and ground truth.

    Without a plant model: ``config.machines`` machines on ``config.lines`` lines of
    one area, the window being one shift. With one: its machines and its shift
    calendar (time outside shifts is OFF, breaks are planned stops).
    """

    def __init__(
        self, config: FleetConfig, plant: Plant | None = None, *, plan: Plan | None = None
    ) -> None:
        self.config = config
        self.plant = plant
        rng = np.random.default_rng(config.seed)
        duration_s = config.hours * 3600.0
        start, end = config.start_ms, config.start_ms + round(duration_s * 1000)
        grid = np.arange(start, end, round(config.interval_s * 1000), dtype=np.int64)
        plans: dict[str, tuple[list[Stop], list[float]]] = {}
        self.micro_stop_threshold_s = 120.0
        self.shifts: list[tuple[int, int, str]] = [(start, end, "window")]
        """Shift instances in the window: (start, end, shift name)."""
        if plant is not None:
            periods = plant.calendar.periods(start, end)
            for line in plant.lines():
                # A production plan cuts or adds shifts per line; the site's calendar stays.
                line_periods = periods if plan is None else plan.periods(
                    plant.calendar, line, start, end)  # fmt: skip
                plans[line] = calendar_plan(line_periods, start, duration_s)
            self.micro_stop_threshold_s = plant.micro_stop_threshold_s
            self.shifts = [(a, b, name) for a, b, kind, name in periods if kind == "shift"]
        # Shift boundaries are sampled, so that a shift's figures are exact from telemetry.
        bounds = np.array([t for a, b, _ in self.shifts for t in (a, b)], dtype=np.int64)
        specs = _specs(config, rng) if plant is None else plant_specs(plant)
        self.streams: list[MachineStream] = []
        for index, spec in enumerate(specs):
            run = simulate_machine(
                spec, start, duration_s, rng, plan=plans.get(spec.path.key("line"))
            )
            times = np.unique(np.concatenate((grid, run.seg_start, bounds, [end])))
            track = None
            if config.sensors:
                sensor_rng = np.random.default_rng([config.seed, index, 7])
                track = simulate_sensors(run, times, sensor_rng, SensorSpec())
            self.streams.append(MachineStream(spec.path, run, times, track, config.meter_details))
        self.meters: list[MainMeterRun] = []
        if plant is not None:
            meter_grid = np.append(grid, end)
            for site in plant.sites:
                path = site.main_meter_path()
                if path is None or site.main_meter is None:
                    continue
                runs = [s.run for s in self.streams if s.path.site == site.name]
                meter_rng = np.random.default_rng([config.seed, 99, len(self.meters)])
                self.meters.append(
                    simulate_main_meter(path, site.main_meter, runs, meter_grid, periods, meter_rng)
                )
        self.start_ms = start
        self.end_ms = end

    def keep_lines(self, lines: list[str]) -> None:
        """Keep only the devices of these lines (``site/area/line``), as one gateway sees."""
        devices = [s.path for s in self.streams] + [m.path for m in self.meters]
        known = {p.key("line") for p in devices}
        unknown = sorted(set(lines) - known)
        if unknown:
            raise ValueError(f"no line {unknown[0]!r} in the fleet; lines: {sorted(known)}")
        self.streams = [s for s in self.streams if s.path.key("line") in lines]
        self.meters = [m for m in self.meters if m.path.key("line") in lines]

    @property
    def paths(self) -> list[MachinePath]:
        """The machines (each with a telemetry device and an energy meter)."""
        return [s.path for s in self.streams]

    @property
    def reading_count(self) -> int:
        """Readings the fleet sends over the whole window (telemetry, energy, main meters)."""
        return 2 * sum(len(s.times_ms) for s in self.streams) + sum(
            len(m.times_ms) for m in self.meters
        )

    def truth(self) -> dict[MachinePath, Oee]:
        """Each machine's exact account over the whole window."""
        return {
            s.path: window_truth(s.run, self.start_ms, self.end_ms, self.micro_stop_threshold_s)
            for s in self.streams
        }

    def truth_report(self) -> dict[str, Any]:
        """The ground truth as JSON-ready data: per machine, line, site and plant, over the
        window and per shift; the main meters; the injected sensor anomalies."""

        def levels(per_machine: dict[MachinePath, Oee]) -> dict[str, Any]:
            lines: dict[str, list[Oee]] = {}
            sites: dict[str, list[Oee]] = {}
            for path, acc in per_machine.items():
                lines.setdefault(path.key("line"), []).append(acc)
                sites.setdefault(path.site, []).append(acc)
            return {
                "plant": total(per_machine.values()).summary(),
                "sites": {k: total(v).summary() for k, v in sites.items()},
                "lines": {k: total(v).summary() for k, v in lines.items()},
                "machines": {str(p): a.summary() for p, a in per_machine.items()},
            }

        out = levels(self.truth())
        out["window"] = {"start_ms": self.start_ms, "end_ms": self.end_ms}
        out["micro_stop_threshold_s"] = self.micro_stop_threshold_s
        out["shifts"] = [
            {
                "shift": name,
                "start_ms": a,
                "end_ms": b,
                **levels(
                    {
                        s.path: window_truth(s.run, a, b, self.micro_stop_threshold_s)
                        for s in self.streams
                    }
                ),
            }
            for a, b, name in self.shifts
        ]
        out["main_meters"] = {str(m.path): m.truth(self.start_ms, self.end_ms) for m in self.meters}
        out["anomalies"] = {str(p): a for p, a in self.anomalies().items() if a}
        return out

    def anomalies(self) -> dict[MachinePath, list[dict[str, int]]]:
        """Injected bearing faults: vibration ramps from ``start_ms`` to the failure."""
        return {
            s.path: [
                {"start_ms": a.start_ms, "failure_ms": a.failure_ms} for a in s.sensors.anomalies
            ]
            for s in self.streams
            if s.sensors is not None
        }

    def chunks(
        self, chunk_ms: int
    ) -> Iterator[tuple[int, list[tuple[MachinePath, Channel, list[WireReading]]]]]:
        """Readings in consecutive windows of device time: (window end, groups)."""
        yield from self._chunks(chunk_ms, encoded=False)

    def encoded_chunks(
        self, chunk_ms: int
    ) -> Iterator[tuple[int, list[tuple[MachinePath, Channel, list[str]]]]]:
        """:meth:`chunks` with each reading as compact JSON text."""
        yield from self._chunks(chunk_ms, encoded=True)

    def _chunks(self, chunk_ms: int, *, encoded: bool) -> Iterator[tuple[int, list[Any]]]:
        for w0 in range(self.start_ms, self.end_ms + 1, chunk_ms):
            w1 = w0 + chunk_ms
            groups: list[Any] = []
            for s in self.streams:
                lo, hi = (int(i) for i in np.searchsorted(s.times_ms, [w0, w1], side="left"))
                if hi > lo:
                    tel = s.telemetry_json(lo, hi) if encoded else s.telemetry(lo, hi)
                    en = s.energy_json(lo, hi) if encoded else s.energy(lo, hi)
                    groups.append((s.path, Channel.TELEMETRY, tel))
                    groups.append((s.path, Channel.ENERGY, en))
            for m in self.meters:
                lo, hi = (int(i) for i in np.searchsorted(m.times_ms, [w0, w1], side="left"))
                if hi > lo:
                    readings: list[Any] = m.readings(lo, hi)
                    if encoded:
                        readings = [encode_one(r).decode() for r in readings]
                    groups.append((m.path, Channel.ENERGY, readings))
            yield min(w1, self.end_ms), groups


def _specs(config: FleetConfig, rng: np.random.Generator) -> list[MachineSpec]:
    """Machines spread evenly over the lines, each a little different."""
    per_line = math.ceil(config.machines / config.lines)
    specs = []
    for i in range(config.machines):
        line = f"line{i // per_line + 1}"
        base = float(rng.choice([20.0, 30.0, 40.0]))
        specs.append(
            MachineSpec(
                path=MachinePath(config.site, config.area, line, f"m{i + 1:02d}"),
                products=(("A", base), ("B", base * float(rng.uniform(1.2, 1.6)))),
                mtbf_s=float(rng.uniform(3600, 10800)),
                mttr_s=float(rng.uniform(300, 1200)),
                mean_time_between_idle_s=float(rng.uniform(1800, 5400)),
                mean_idle_s=float(rng.uniform(120, 480)),
                setup_s=float(rng.uniform(600, 1500)),
                scrap_rate=float(rng.uniform(0.005, 0.05)),
                idle_kw=float(rng.uniform(2.0, 6.0)),
                load_kw=float(rng.uniform(8.0, 30.0)),
            )
        )
    return specs


def plant_specs(plant: Plant) -> list[MachineSpec]:
    """Machine specs from a plant model, in the model's order."""
    return [
        MachineSpec(
            path=path,
            products=tuple((p.name, p.ideal_cycle_s) for p in m.products),
            mtbf_s=m.mtbf_s,
            mttr_s=m.mttr_s,
            mean_time_between_idle_s=m.mean_time_between_idle_s,
            mean_idle_s=m.mean_idle_s,
            setup_s=m.setup_s,
            speed_range=m.speed_range,
            scrap_rate=m.scrap_rate,
            idle_kw=m.idle_kw,
            load_kw=max(m.rated_kw - m.idle_kw, 0.0),
            startup_scrap_units=m.startup_units,
            startup_scrap_rate=m.startup_scrap_rate,
            micro_stops_per_hour=m.micro_stops_per_hour,
            micro_stop_mean_s=m.micro_stop_mean_s,
            register_resolution_kwh=m.meter_resolution_kwh,
            register_rollover_kwh=m.meter_rollover_kwh,
            register_start_kwh=m.meter_start_kwh,
        )
        for path, m in plant.machines()
    ]


def default_fleet(**overrides: Any) -> Fleet:
    return Fleet(FleetConfig(**overrides))
