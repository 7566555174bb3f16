"""The report as a typed model: what `factory report --format json`, the dashboard and the
API share. Field names are the documented JSON keys (``docs/views.md``); ratios are
fractions 0..1, times in minutes, energy in kWh, times of day as epoch milliseconds.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Figures(_Model):
    """One account as a person reads it: ratios, losses in minutes, counts and energy."""

    availability: float | None
    performance: float | None
    quality: float | None
    oee: float | None
    performance_suspect: bool
    planned_busy_min: float
    run_min: float
    no_data_min: float
    losses_min: dict[str, float | None]
    stops: int
    small_stops: int
    downtime_by_reason_min: dict[str, float]
    total_count: int
    good_count: int
    startup_reject_count: int
    energy_kwh: float | None
    kwh_per_good_unit: float | None
    kwh_per_unit: float | None
    idle_kwh: float | None
    energy_by_state_kwh: dict[str, float]


class Levels(_Model):
    """Figures of the plant, each site, area (``site/area``), line (``site/area/line``)
    and machine (``site/area/line/machine``)."""

    plant: Figures | None
    sites: dict[str, Figures]
    areas: dict[str, Figures]
    lines: dict[str, Figures]
    machines: dict[str, Figures]


class CostFigures(_Model):
    kwh: float
    cost: float
    cost_per_good_unit: float | None
    peak_share: float | None
    kwh_by_band: dict[str, float]
    cost_by_band: dict[str, float]


class PeriodCost(_Model):
    plant: CostFigures
    lines: dict[str, CostFigures]


class PeriodLevels(Levels):
    period: str
    """e.g. ``2026-01-05 morning``, ``2026-01-05``, ``2026-01-05 08:00``."""
    from_: str = Field(alias="from")
    to: str
    cost: PeriodCost | None = None
    """The tariff's bill of the period (with a tariff in the plant model)."""


class ReportWindow(_Model):
    from_: str = Field(alias="from")
    to: str
    start_ms: int
    end_ms: int


class ParetoItem(_Model):
    reason: str
    minutes: float
    share: float
    cumulative_share: float


class Peak(_Model):
    kw: float
    block_start_ms: int


class MachineEnergy(_Model):
    energy_kwh: float | None
    kwh_per_good_unit: float | None
    kwh_per_unit: float | None
    idle_kwh: float | None
    idle_share: float | None
    energy_by_state_kwh: dict[str, float]
    base_load_kw: float | None
    peak_15min: Peak | None
    co2e_kg: float | None


class GroupEnergy(_Model):
    energy_kwh: float | None
    kwh_per_good_unit: float | None
    idle_share: float | None
    peak_15min: Peak | None
    co2e_kg: float | None


class PlantEnergy(_Model):
    energy_kwh: float | None
    kwh_per_good_unit: float | None
    kwh_per_unit: float | None
    idle_share: float | None
    energy_by_state_kwh: dict[str, float]
    peak_15min: Peak | None
    co2e_kg: float | None


class MainMeter(_Model):
    energy_kwh: float | None
    machines_kwh: float
    non_production_kwh: float | None
    sub_metered_share: float | None
    peak_15min: Peak | None
    co2e_kg: float | None


class BaselinePeriod(_Model):
    period: str
    units: float
    kwh: float
    expected_kwh: float
    deviation_kwh: float
    flagged: bool


class Baseline(_Model):
    model: str
    intercept_kwh_per_period: float
    slope_kwh_per_unit: float
    r2: float | None
    robust_sigma_kwh: float
    enpi_last_quarter: float | None
    deviations: list[BaselinePeriod]
    periods: int


class SiteCost(CostFigures):
    priced_on: str


class Demand(_Model):
    kw: float
    block_start_ms: int
    charge: float


class IdleAtPeak(_Model):
    kwh: float
    cost: float
    method: str


class BandPrice(_Model):
    price_per_kwh: float
    peak: bool


class Cost(_Model):
    """Energy cost by the plant model's time-of-use tariff (``analytics.energy.cost``)."""

    currency: str
    decimals: int
    bands: dict[str, BandPrice]
    plant: CostFigures | None
    sites: dict[str, SiteCost]
    lines: dict[str, CostFigures]
    machines: dict[str, CostFigures]
    demand: dict[str, Demand]
    idle_at_peak: IdleAtPeak


class Energy(_Model):
    grid_emission_factor_kg_per_kwh: float
    plant: PlantEnergy | None
    main_meters: dict[str, MainMeter]
    sites: dict[str, GroupEnergy]
    lines: dict[str, GroupEnergy]
    machines: dict[str, MachineEnergy]
    baseline: Baseline | None
    cost: Cost | None = None


class AnomalyEvent(_Model):
    machine: str
    signal: str
    start_ms: int
    end_ms: int
    peak_z: float


class Anomalies(_Model):
    method: str
    machines_with_sensor: int
    events: list[AnomalyEvent]


class CriterionScore(_Model):
    dimension: str
    criterion: str
    what: str
    value: float | None
    scores_0_at: float
    scores_1_at: float
    score: float | None
    source: str


class NextStep(_Model):
    criterion: str
    dimension: str
    step: str
    level_gain: float


class Maturity(_Model):
    level: float | None
    label: str
    scale: str
    dimensions: dict[str, float | None]
    criteria: list[CriterionScore]
    next_steps: list[NextStep]


class Source(_Model):
    """Where a part of the window came from: ``raw`` (computed from the readings for this
    report) or ``accounts`` (stored period accounts, current with every reading)."""

    from_: str = Field(alias="from")
    to: str
    source: str


class Check(_Model):
    """One finding to check, with every machine (or place) it was found for: a plant of 500
    machines without data for the same minutes is one check, not 500."""

    finding: str
    subjects: list[str]
    """Where it was found (site/area/line/machine), sorted; empty for a plant-wide finding."""


class Report(_Model):
    """The whole report of one window."""

    window: ReportWindow
    plant_model: str | None
    micro_stop_threshold_s: float
    oee: Levels
    periods: list[PeriodLevels]
    pareto: list[ParetoItem]
    energy: Energy
    anomalies: Anomalies | None
    maturity: Maturity
    flags: list[str]
    """Each finding per machine, as ``path: finding`` (the checks, one line each)."""
    checks: list[Check] = Field(default_factory=list)
    """The same findings grouped: identical ones once, with the machines they concern."""
    sources: list[Source] = Field(default_factory=list)
    generated_at: str | None = None
    """When the dashboard computed it (only in the API's answers)."""

    def as_json_dict(self) -> dict[str, Any]:
        """The documented JSON document (keys as in ``docs/views.md``)."""
        exclude = {"generated_at"} if self.generated_at is None else None
        out: dict[str, Any] = self.model_dump(mode="json", by_alias=True, exclude=exclude)
        return out

    def to_json(self, *, indent: int | None = 2) -> str:
        import json

        return json.dumps(self.as_json_dict(), indent=indent)
