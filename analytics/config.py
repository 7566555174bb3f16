"""Settings of the analytics (section ``[analytics]``) and of the energy forecast
(``[forecast]``); variables ``FACTORY_ANALYTICS__*``, ``FACTORY_FORECAST__*``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from store import StoreSettings
from telemetry.urls import metrics_exposure

if TYPE_CHECKING:
    from plant.model import Plant
    from plant.plan import Plan

GRID_FACTOR_VN_2023 = 0.6592
"""Viet Nam's 2023 grid emission factor, t CO2e per MWh (kg per kWh), as announced by the
Department of Climate Change (Ministry of Agriculture and Environment), 2024."""


class AnalyticsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    grid_emission_factor: float = Field(
        default=GRID_FACTOR_VN_2023,
        gt=0,
        le=2,
        description="kg CO2e per kWh (= t CO2e per MWh); default Viet Nam 2023, 0.6592",
    )
    max_gap_s: float = Field(
        default=60.0, gt=0, description="Seconds a reading stays valid; longer is 'no data'"
    )
    kpi_every_s: float = Field(
        default=60.0,
        ge=1,
        description="How often `factory aggregate` brings the stored accounts and KPIs up to date",
    )
    kpi_period: Literal["hour", "shift", "day"] = Field(
        default="hour",
        description="KPI points are written per hour and day; 'shift' adds shifts (plant model)",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65_535,
        description="`factory aggregate` serves /metrics here (0: any)",
    )
    metrics_host: str = Field(default="127.0.0.1", description="Where /metrics listens")
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token /metrics and /healthz require (needed when metrics_host "
        "is not loopback)",
    )
    anomaly_z: float = Field(
        default=8.0, gt=0, description="Robust z-score of smoothed vibration that raises an event"
    )

    @model_validator(mode="after")
    def _metrics(self) -> AnalyticsConfig:
        metrics_exposure(self.metrics_host, self.metrics_token)
        return self


class ForecastConfig(BaseModel):
    """Settings of the energy forecast (section ``[forecast]``, ``FACTORY_FORECAST__*``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    history_days: int = Field(
        default=28, ge=1, le=92, description="Days of metered history the forecast learns from"
    )
    plan: str | None = Field(
        default=None, description="Production plan (CSV: date,shift,line,planned_hours)"
    )
    peak_hours: str = Field(
        default="09:30-11:30,17:00-20:00",
        pattern=r"^\s*([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d"
        r"(\s*,\s*([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d)*\s*$",
        description="Local hours when energy is dear, HH:MM-HH:MM[,...] (default: the peak "
        "bands of Viet Nam's time-of-use tariff; check your contract)",
    )
    peak_days: tuple[Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], ...] = Field(
        default=("Mon", "Tue", "Wed", "Thu", "Fri", "Sat"),
        description="Weekdays with peak hours (default Monday to Saturday)",
    )
    demand_warning_share: float = Field(
        default=0.9,
        gt=0,
        le=1.5,
        description="Warn when the 90th percentile reaches this share of a site's contracted "
        "maximum demand (plant model: main_meter.contracted_kw)",
    )
    every_s: float = Field(
        default=900.0,
        ge=0,
        description="`factory aggregate` stores a forecast this often when a plant model is set "
        "(0: never)",
    )

    @model_validator(mode="after")
    def _bands(self) -> ForecastConfig:
        self.bands()
        return self

    def plan_for(self, plant: Plant) -> Plan | None:
        """The production plan of ``plan`` read against ``plant`` (PlanError if it is bad)."""
        from plant.plan import load_plan

        return load_plan(self.plan, plant) if self.plan else None

    def bands(self) -> tuple[tuple[int, int], ...]:
        """The peak hours as (from, to) minutes of the day."""
        out = []
        for part in self.peak_hours.split(","):
            a, b = (x.strip() for x in part.split("-"))
            minutes = [int(x[:2]) * 60 + int(x[3:]) for x in (a, b)]
            if minutes[1] <= minutes[0]:
                raise ValueError(f"peak hours {part.strip()!r}: the end must be after the start")
            out.append((minutes[0], minutes[1]))
        return tuple(out)


class AnalyticsSettings(StoreSettings, Protocol):
    """The settings the analytics' services read (``factory_cli.settings.Settings`` is one)."""

    @property
    def analytics(self) -> AnalyticsConfig: ...

    @property
    def forecast(self) -> ForecastConfig: ...
