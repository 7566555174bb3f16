"""A time-of-use electricity tariff: the price of each kWh by weekday and time of day.

Declared in the plant model (``[tariff]``): bands with a price per kWh, the weekdays and
the local hours they apply on, and the band of every other hour (``default_band``); on
the calendar's holidays the peak bands give way to ``holiday_band`` (Viet Nam: no peak on
holidays and Sundays). Band edges fall on quarter hours, so each 15-minute block of energy has one
price and a window's cost is exact from the 15-minute blocks the accounts keep. An
optional demand charge prices the window's highest mean demand over 15 or 30 minutes.

Example (Viet Nam's manufacturing tariff at 22-110 kV; check your contract for today's
prices and bands)::

    [tariff]
    currency = "VND"
    default_band = "normal"
    holiday_band = "normal"
    [[tariff.bands]]
    name = "normal"
    price_per_kwh = 1811
    [[tariff.bands]]
    name = "peak"
    price_per_kwh = 3266
    days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    hours = ["09:30-11:30", "17:00-20:00"]
    peak = true
    [[tariff.bands]]
    name = "off_peak"
    price_per_kwh = 1146
    hours = ["22:00-04:00"]
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
ALL_DAYS: tuple[Weekday, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
Span = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$",
                            description="HH:MM-HH:MM, local; may cross midnight")]  # fmt: skip


def span_minutes(span: str) -> tuple[int, int]:
    a, b = span.split("-")
    return int(a[:2]) * 60 + int(a[3:]), int(b[:2]) * 60 + int(b[3:])


class Band(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    price_per_kwh: float = Field(ge=0, le=1e7, description="In the tariff's currency")
    days: tuple[Weekday, ...] = Field(default=ALL_DAYS, min_length=1)
    hours: tuple[Span, ...] = Field(default=(), description="Empty: the default band only")
    peak: bool = Field(default=False, description="Counts as peak (share at peak, savings)")

    @field_validator("hours")
    @classmethod
    def _quarters(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for span in value:
            a, b = span_minutes(span)
            if a % 15 or b % 15:
                raise ValueError(f"{span}: band edges fall on quarter hours (:00 :15 :30 :45)")
            if a == b % 1440:
                raise ValueError(f"{span}: an empty or whole-day span; use days instead")
        return value


class Tariff(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    currency: str = Field(default="VND", pattern=r"^[A-Z]{3}$", description="ISO 4217 code")
    bands: tuple[Band, ...] = Field(min_length=1)
    default_band: str = Field(description="The band of every hour no other band claims")
    holiday_band: str | None = Field(
        default=None,
        description="On the calendar's holidays, peak bands give way to this band "
        "(default: holidays are priced as any day)",
    )
    demand_charge_per_kw: float = Field(
        default=0.0, ge=0, description="Per kW of the window's highest mean demand"
    )
    demand_block_minutes: Literal[15, 30] = 15

    @model_validator(mode="after")
    def _names(self) -> Tariff:
        names = [b.name for b in self.bands]
        if len(set(names)) != len(names):
            raise ValueError("band names must be unique")
        for setting in ("default_band", "holiday_band"):
            name = getattr(self, setting)
            if name is not None and name not in names:
                raise ValueError(f"{setting} {name!r} is not a band ({', '.join(names)})")
        slots: dict[tuple[int, int], str] = {}
        key: tuple[int, int]
        for band in self.bands:
            for day in band.days:
                for span in band.hours:
                    for q in quarters(span):
                        key = (ALL_DAYS.index(day) + q // 96) % 7, q % 96
                        if key in slots and slots[key] != band.name:
                            raise ValueError(f"bands {slots[key]} and {band.name} overlap on "
                                             f"{day} {span}")  # fmt: skip
                        slots[key] = band.name
        return self

    def band(self, name: str) -> Band:
        return next(b for b in self.bands if b.name == name)

    def week(self) -> list[str]:
        """The band of each quarter hour of the week (index: weekday * 96 + quarter)."""
        out = [self.default_band] * (7 * 96)
        for band in self.bands:
            for day in band.days:
                for span in band.hours:
                    for q in quarters(span):
                        out[(ALL_DAYS.index(day) * 96 + q) % (7 * 96)] = band.name
        return out


def quarters(span: str) -> range:
    """The quarter hours a span covers, from its start day's midnight (past 96: the next day)."""
    a, b = span_minutes(span)
    end = b if b > a else b + 1440
    return range(a // 15, end // 15)


def parse_spans(text: str) -> tuple[str, ...]:
    """``"09:30-11:30, 17:00-20:00"`` as spans."""
    return tuple(p.strip() for p in re.split(r"\s*,\s*", text.strip()) if p.strip())
