"""What the dashboard is configured with: ``[serve]`` (who may use it, TLS), and what it
reads of the whole settings (:class:`DashboardSettings`, which ``factory_cli``'s settings
provide)."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerting.config import AlertsConfig
from analytics.config import AnalyticsConfig, ForecastConfig
from store import StoreSettings


class ServeConfig(BaseModel):
    """`factory serve` (section ``[serve]``, ``FACTORY_SERVE__*``): who may use it, and TLS."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    users_db: str = Field(
        default="factory-data/users.db",
        description="Users, sessions, API tokens and the audit log (`factory users`)",
    )
    anonymous: Literal["none", "viewer"] = Field(
        default="none",
        description="'viewer': anyone who reaches the port may read without signing in",
    )
    session_minutes: float = Field(
        default=480.0, gt=0, le=7 * 24 * 60, description="A sign-in lasts this long"
    )
    max_failures: int = Field(
        default=5, ge=1, le=100, description="Failed sign-ins in a row that lock a user out"
    )
    lockout_minutes: float = Field(default=15.0, gt=0, description="How long a lock-out lasts")
    tls_cert: str | None = Field(default=None, description="Certificate (PEM) for HTTPS")
    tls_key: str | None = Field(default=None, description="Its private key (PEM)")
    allow_insecure: bool = Field(
        default=False,
        description="Listen on a non-loopback address without TLS, or with anonymous "
        "access (refused unless this is true)",
    )

    @model_validator(mode="after")
    def _pair(self) -> ServeConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self


class DashboardSettings(StoreSettings, Protocol):
    """The settings the dashboard reads (``factory_cli.settings.Settings`` is one)."""

    @property
    def lang(self) -> Literal["en", "vi"]: ...

    @property
    def analytics(self) -> AnalyticsConfig: ...

    @property
    def forecast(self) -> ForecastConfig: ...

    @property
    def alerts(self) -> AlertsConfig: ...

    @property
    def serve(self) -> ServeConfig: ...
