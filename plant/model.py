"""The plant model: sites, areas, lines, machines and the shift calendar.

One TOML file, shared by the simulator (what to simulate) and the analytics
(planned time, ideal cycle times, the micro-stop threshold). The JSON Schema in
``docs/plant-model.schema.json`` is generated from these models
(``python -m plant.model``). Examples: ``deploy/plants/small.toml`` and
``deploy/plants/large.toml``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import FactoryError
from plant.tariff import Tariff
from telemetry.models import NAME_PATTERN, Name
from telemetry.topic import MachinePath

Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
WEEKDAYS: tuple[Weekday, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ClockTime = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM")]


class PlantModelError(FactoryError, ValueError):
    """A plant model file that cannot be used; the message says where and why."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _minutes(clock: str) -> int:
    h, m = clock.split(":")
    return int(h) * 60 + int(m)


class Break(_Model):
    start: ClockTime
    minutes: int = Field(gt=0, le=480)


class Shift(_Model):
    name: Name
    start: ClockTime
    end: ClockTime = Field(description="May be past midnight (e.g. 22:00 to 06:00)")
    breaks: tuple[Break, ...] = ()

    @property
    def length_min(self) -> int:
        return (_minutes(self.end) - _minutes(self.start)) % (24 * 60) or 24 * 60


class Calendar(_Model):
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. Asia/Ho_Chi_Minh")
    shifts: tuple[Shift, ...] = Field(min_length=1)
    non_working_days: tuple[Weekday, ...] = Field(
        default=(), description="Weekdays without shifts (by the shift's start date)"
    )
    holidays: tuple[dt.date, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name") from None
        return value

    def periods(self, start_ms: int, end_ms: int) -> list[tuple[int, int, str, str]]:
        """Shifts and breaks in [start_ms, end_ms): (start, end, kind, shift name).

        ``kind`` is ``shift`` (planned production) or ``break`` (planned stop); the
        time outside every shift is not planned (the machine is OFF).
        """
        zone = ZoneInfo(self.timezone)
        first = dt.datetime.fromtimestamp(start_ms / 1000, zone).date() - dt.timedelta(days=1)
        last = dt.datetime.fromtimestamp(end_ms / 1000, zone).date()
        out: list[tuple[int, int, str, str]] = []
        day = first
        while day <= last:
            if WEEKDAYS[day.weekday()] not in self.non_working_days and day not in self.holidays:
                for shift in self.shifts:
                    s0 = dt.datetime.combine(day, dt.time.fromisoformat(shift.start), zone)
                    s1 = s0 + dt.timedelta(minutes=shift.length_min)
                    out.append((_ms(s0), _ms(s1), "shift", shift.name))
                    for b in shift.breaks:
                        offset = (_minutes(b.start) - _minutes(shift.start)) % (24 * 60)
                        b0 = s0 + dt.timedelta(minutes=offset)
                        out.append(
                            (
                                _ms(b0),
                                _ms(b0 + dt.timedelta(minutes=b.minutes)),
                                "break",
                                shift.name,
                            )
                        )
            day += dt.timedelta(days=1)
        clipped = [(max(a, start_ms), min(b, end_ms), k, n) for a, b, k, n in out]
        return sorted(p for p in clipped if p[1] > p[0])

    @model_validator(mode="after")
    def _breaks_inside(self) -> Calendar:
        for shift in self.shifts:
            for b in shift.breaks:
                offset = (_minutes(b.start) - _minutes(shift.start)) % (24 * 60)
                if offset + b.minutes > shift.length_min:
                    raise ValueError(
                        f"shift {shift.name}: the break at {b.start} ends after the shift"
                    )
        return self


def _ms(when: dt.datetime) -> int:
    return int(when.timestamp() * 1000)


class Product(_Model):
    name: Name
    ideal_cycle_s: float = Field(gt=0, le=86_400)


class Machine(_Model):
    """One machine, or ``count`` alike ones named ``{name}01``, ``{name}02``, …"""

    name: Name
    count: int = Field(default=1, ge=1, le=1000)
    type: Name = "machine"
    products: tuple[Product, ...] = Field(min_length=1)
    rated_kw: float = Field(default=22.0, gt=0, description="Power when running at full speed")
    idle_kw: float = Field(default=4.0, ge=0, description="Base load when idle")
    mtbf_s: float = Field(default=5400.0, gt=0, description="Mean run time between failures")
    mttr_s: float = Field(default=600.0, gt=0, description="Mean time to repair")
    mean_time_between_idle_s: float = Field(default=3600.0, gt=0)
    mean_idle_s: float = Field(default=240.0, gt=0)
    setup_s: float = Field(default=900.0, ge=0, description="Changeover time")
    speed_range: tuple[float, float] = (0.85, 1.0)
    scrap_rate: float = Field(default=0.02, ge=0, le=1)
    micro_stops_per_hour: float = Field(
        default=4.0, ge=0, le=120, description="Short stops (jams, misfeeds) per running hour"
    )
    micro_stop_mean_s: float = Field(default=40.0, gt=0, description="Mean length of a short stop")
    startup_units: int = Field(
        default=10, ge=0, description="Units after a changeover that count as start-up production"
    )
    startup_scrap_rate: float = Field(default=0.3, ge=0, le=1)
    meter_resolution_kwh: float = Field(
        default=0.001, gt=0, le=1, description="Resolution of the energy register"
    )
    meter_rollover_kwh: float | None = Field(
        default=None, gt=0, description="The register wraps to 0 at this value (None: never)"
    )
    meter_start_kwh: float = Field(default=0.0, ge=0, description="Register value at the start")

    @model_validator(mode="after")
    def _register(self) -> Machine:
        if self.meter_rollover_kwh is not None and self.meter_start_kwh >= self.meter_rollover_kwh:
            raise ValueError("meter_start_kwh must be below meter_rollover_kwh")
        return self

    @property
    def names(self) -> list[str]:
        if self.count == 1:
            return [self.name]
        width = max(2, len(str(self.count)))
        return [f"{self.name}{i:0{width}d}" for i in range(1, self.count + 1)]


class Line(_Model):
    name: Name
    machines: tuple[Machine, ...] = Field(min_length=1)
    oee_target: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="OEE target of the line (dashboard, 0.85 if unset; alerts over the shift "
        "so far)",
    )
    availability_target: float | None = Field(
        default=None, gt=0, le=1, description="Availability target of the line (alerts)"
    )


class Area(_Model):
    name: Name
    lines: tuple[Line, ...] = Field(min_length=1)


class MainMeter(_Model):
    """A site's incoming-supply meter: every machine plus non-production load.

    It reports on the energy channel of ``{site}/{area}/{line}/{name}``.
    """

    name: Name = "incomer"
    area: Name = "utilities"
    line: Name = "main"
    lighting_kw: float = Field(default=8.0, ge=0, description="During shifts; 10 % outside")
    hvac_kw: float = Field(default=20.0, ge=0, description="Mean HVAC load, with a daily wave")
    compressor_kw: float = Field(
        default=15.0, ge=0, description="Air compressor, loading and unloading in cycles"
    )
    contracted_kw: float | None = Field(
        default=None,
        gt=0,
        description="Contracted maximum demand (kW over 15 minutes); the energy forecast "
        "warns before the site reaches it",
    )


class Site(_Model):
    name: Name
    areas: tuple[Area, ...] = Field(min_length=1)
    main_meter: MainMeter | None = None

    def main_meter_path(self) -> MachinePath | None:
        m = self.main_meter
        return None if m is None else MachinePath(self.name, m.area, m.line, m.name)


class Gateway(_Model):
    """An edge gateway: its MQTT user (and client id), and the lines it may publish for."""

    name: Name
    lines: tuple[str, ...] = Field(
        min_length=1, description="Lines it serves, as site/area/line paths of this plant"
    )

    @field_validator("lines")
    @classmethod
    def _paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for path in value:
            parts = path.split("/")
            if len(parts) != 3 or not all(re.match(NAME_PATTERN, p) for p in parts):
                raise ValueError(f"{path!r} is not a site/area/line path")
        return value


class Reason(_Model):
    """A downtime reason of the plant's catalogue, which operators pick for a stop."""

    code: Name
    label: str = Field(min_length=1, max_length=100, description="What operators read")
    category: Literal["breakdown", "setup", "planned_stop"] = Field(
        default="breakdown",
        description="Where the stop's time goes: breakdown (availability loss 'breakdowns', "
        "or 'small stops' when shorter than the threshold), setup ('setup and "
        "adjustments'), planned_stop (not planned busy time: no loss)",
    )


class Plant(_Model):
    name: str = Field(max_length=200)
    micro_stop_threshold_s: float = Field(
        default=120.0, gt=0, description="Stops shorter than this are performance loss"
    )
    calendar: Calendar
    sites: tuple[Site, ...] = Field(min_length=1)
    tariff: Tariff | None = Field(
        default=None, description="Time-of-use electricity tariff (energy cost in reports)"
    )
    gateways: tuple[Gateway, ...] = Field(
        default=(),
        description="Edge gateways and their lines (default: one gateway per line, "
        "named edge-{site}-{area}-{line})",
    )
    reasons: tuple[Reason, ...] = Field(
        default=(), description="Downtime reasons operators may give a stop (the catalogue)"
    )
    generic_reasons: tuple[str, ...] = Field(
        default=("unspecified", "unknown", "other"),
        description="Reasons that explain nothing: stops with these (or none) are shown as "
        "unexplained",
    )

    @model_validator(mode="after")
    def _catalogue(self) -> Plant:
        codes = [r.code for r in self.reasons]
        dup = sorted({c for c in codes if codes.count(c) > 1})
        if dup:
            raise ValueError(f"reason {dup[0]!r} is in the catalogue twice")
        generic = sorted(set(codes) & set(self.generic_reasons))
        if generic:
            raise ValueError(f"reason {generic[0]!r} is both in the catalogue and generic")
        return self

    def reason(self, code: str) -> Reason | None:
        return next((r for r in self.reasons if r.code == code), None)

    def machines(self) -> list[tuple[MachinePath, Machine]]:
        """Every machine with its place, counts expanded; names must be unique per line."""
        out: list[tuple[MachinePath, Machine]] = []
        seen: set[MachinePath] = set()
        for site in self.sites:
            for area in site.areas:
                for line in area.lines:
                    for m in line.machines:
                        for name in m.names:
                            path = MachinePath(site.name, area.name, line.name, name)
                            if path in seen:
                                raise PlantModelError(f"machine {path} is defined twice")
                            seen.add(path)
                            out.append((path, m))
            meter = site.main_meter_path()
            if meter is not None and meter in seen:
                raise PlantModelError(f"main meter {meter} has the path of a machine")
        return out

    def line_models(self) -> dict[str, Line]:
        """Every line of the model by its ``site/area/line`` key."""
        return {
            f"{site.name}/{area.name}/{line.name}": line
            for site in self.sites
            for area in site.areas
            for line in area.lines
        }

    def lines(self) -> list[str]:
        """Every line as ``site/area/line``, main meters' lines included."""
        paths = [p for p, _ in self.machines()] + [p for p, _ in self.main_meters()]
        return list(dict.fromkeys(p.key("line") for p in paths))

    def gateway_plan(self) -> list[Gateway]:
        """The gateways of the model, or one per line when it names none."""
        if self.gateways:
            known = set(self.lines())
            for g in self.gateways:
                unknown = [line for line in g.lines if line not in known]
                if unknown:
                    raise PlantModelError(f"gateway {g.name}: no such line {unknown[0]!r}")
            return list(self.gateways)
        return [
            Gateway(name=f"edge-{line.replace('/', '-')}"[:64], lines=(line,))
            for line in self.lines()
        ]

    def main_meters(self) -> list[tuple[MachinePath, MainMeter]]:
        out = []
        for site in self.sites:
            path = site.main_meter_path()
            if path is not None and site.main_meter is not None:
                out.append((path, site.main_meter))
        return out


MAX_FILE_BYTES = 4 * 1024 * 1024
"""A plant model or configuration file larger than this is refused (the large example
plant of 500 machines is 10 KB)."""


def read_toml(file: Path, what: str) -> dict[str, object]:
    """A TOML file's tables, or a ValueError that says what is wrong with it: missing,
    too large, not UTF-8, not TOML, nested too deeply."""
    try:
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ValueError(f"{what} {file} is {size:,} bytes; at most {MAX_FILE_BYTES:,}")
        text = file.read_bytes().decode("utf-8")
        return tomllib.loads(text)
    except FileNotFoundError:
        raise ValueError(f"{what} {file} not found") from None
    except IsADirectoryError:
        raise ValueError(f"{what} {file} is a folder, not a file") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{file}: not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{file}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ValueError(f"{file}: nested too deeply to be a {what}") from None


def load_plant(path: str | Path) -> Plant:
    """Read and validate a plant model file; :class:`PlantModelError` says what is wrong."""
    file = Path(path)
    try:
        data = read_toml(file, "plant model")
    except ValueError as exc:
        raise PlantModelError(str(exc)) from None
    try:
        plant = Plant.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise PlantModelError(f"{file}: {problems}") from None
    plant.machines()  # names unique
    plant.gateway_plan()  # gateways serve lines that exist
    return plant


def json_schema() -> dict[str, object]:
    schema = Plant.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Smart-factory plant model"
    return schema


if __name__ == "__main__":
    print(json.dumps(json_schema(), indent=2, sort_keys=True, default=str))
