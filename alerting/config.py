"""Settings of alerts and their notifications (section ``[alerts]``, ``FACTORY_ALERTS__*``).

The rules are fixed kinds with thresholds here (0 turns a rule off); a line's targets in
the plant model (``oee_target``, ``availability_target``) override the defaults. The
channels are where notifications go (``[[alerts.channels]]``, or
``FACTORY_ALERTS__CHANNELS`` as a JSON list).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

RULES: tuple[str, ...] = (
    "breakdown",
    "silent",
    "oee",
    "availability",
    "anomaly",
    "demand",
    "energy_intensity",
    "deadletters",
)
"""Every rule, by name (an alert's ``rule``)."""


class ChannelConfig(BaseModel):
    """Where notifications go: a JSON webhook (generic, Slack or Teams payload), e-mail over
    SMTP, or stdout (the log)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Shown with each notice")
    kind: Literal["webhook", "slack", "teams", "smtp", "stdout"]
    url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="webhook, slack, teams: the URL to POST to",
    )
    token: SecretStr | None = Field(
        default=None, description="webhook: sent as 'Authorization: Bearer TOKEN'"
    )
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65_535)
    starttls: bool = Field(default=True, description="smtp: STARTTLS before signing in")
    ca_file: str | None = Field(
        default=None, description="smtp: CA (PEM) the server's certificate is checked against"
    )
    username: str | None = None
    password: SecretStr | None = None
    sender: str | None = Field(default=None, description="smtp: From address")
    to: tuple[str, ...] = Field(default=(), description="smtp: recipients")
    rules: tuple[str, ...] = Field(default=(), description="Only these rules (default: every rule)")
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _complete(self) -> ChannelConfig:
        if self.kind in ("webhook", "slack", "teams") and not self.url:
            raise ValueError(f"channel {self.name}: kind {self.kind} needs url")
        if self.kind == "smtp" and not (self.smtp_host and self.sender and self.to):
            raise ValueError(f"channel {self.name}: kind smtp needs smtp_host, sender and to")
        if (self.username is None) != (self.password is None):
            raise ValueError(f"channel {self.name}: username and password go together")
        unknown = sorted(set(self.rules) - set(RULES))
        if unknown:
            raise ValueError(f"channel {self.name}: no rule {unknown[0]!r}; rules: {RULES}")
        return self


class AlertsConfig(BaseModel):
    """Alert rules and notification channels (section ``[alerts]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every_s: float = Field(
        default=60.0,
        ge=0,
        description="`factory aggregate` evaluates the rules this often (0: never)",
    )
    breakdown_minutes: float = Field(
        default=30.0, ge=0, description="A machine DOWN this long raises an alert (0: off)"
    )
    silent_s: float = Field(
        default=300.0,
        ge=0,
        description="A machine without readings this long, or a gateway whose machines all "
        "are, raises an alert; so does a gateway's offline status (0: off)",
    )
    oee_target: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="A line's OEE over the shift so far below this raises an alert (0: only "
        "lines with oee_target in the plant model)",
    )
    availability_target: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="The same for availability (plant model: availability_target)",
    )
    min_shift_minutes: float = Field(
        default=30.0, ge=0, description="Shift targets are judged once this much has run"
    )
    anomaly: bool = Field(default=True, description="An anomaly event raises an alert")
    demand_share: float = Field(
        default=0.9,
        ge=0,
        le=1.5,
        description="A site's demand over the last 15 minutes at this share of its contracted "
        "maximum (plant model: main_meter.contracted_kw) raises an alert (0: off)",
    )
    intensity_factor: float = Field(
        default=1.25,
        ge=0,
        description="A line's kWh per good unit over the shift so far above this multiple of "
        "its baseline (the previous baseline_days) raises an alert (0: off)",
    )
    baseline_days: int = Field(default=7, ge=1, le=92)
    deadletters: int = Field(
        default=100, ge=0, description="More dead letters than this raises an alert (0: off)"
    )
    history_days: int = Field(
        default=30, ge=1, le=366, description="Alerts and notices shown and retried this far back"
    )
    retry_max: int = Field(
        default=8, ge=1, le=100, description="Delivery attempts before a notice is kept as failed"
    )
    retry_base_s: float = Field(
        default=30.0, gt=0, description="First retry after this, doubling up to an hour"
    )
    rate_per_hour: int = Field(
        default=20, ge=1, description="Notices per rule and channel an hour; more are suppressed"
    )
    channels: tuple[ChannelConfig, ...] = Field(
        default=(), description="Where notifications go ([[alerts.channels]])"
    )

    @model_validator(mode="after")
    def _unique(self) -> AlertsConfig:
        names = [c.name for c in self.channels]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"channel name {dup[0]!r} is used twice")
        return self
