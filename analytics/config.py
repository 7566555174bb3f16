"""Settings of the analytics (section ``[analytics]``, variables ``FACTORY_ANALYTICS__*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
        description="How often `factory kpi` brings the stored accounts and KPIs up to date",
    )
    kpi_period: Literal["hour", "shift", "day"] = Field(
        default="hour",
        description="KPI points are written per hour and day; 'shift' adds shifts (plant model)",
    )
    metrics_port: int | None = Field(
        default=None, ge=0, le=65_535, description="`factory kpi` serves /metrics here (0: any)"
    )
    metrics_host: str = Field(default="127.0.0.1", description="Where /metrics listens")
    anomaly_z: float = Field(
        default=8.0, gt=0, description="Robust z-score of smoothed vibration that raises an event"
    )
