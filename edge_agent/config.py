"""Settings of the edge agent (section ``[edge]``, variables ``FACTORY_EDGE__*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from telemetry.models import Name


class EdgeConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: Name = Field(
        default="factory-edge-1",
        description="Stable MQTT client id of this gateway (unique per gateway)",
    )
    batch_max_readings: int = Field(
        default=100, ge=1, le=10_000, description="Readings per MQTT message at most"
    )
    max_inflight: int = Field(
        default=64, ge=1, le=65_535, description="QoS 1 messages awaiting PUBACK at most"
    )
    publish_timeout_s: float = Field(
        default=30.0, gt=0, description="How long one message may wait for its PUBACK"
    )
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    ca_file: Path | None = Field(default=None, description="CA bundle for mqtts:// brokers")
    allow_plaintext_password: bool = Field(
        default=False,
        description="Allow sending a password over plain mqtt:// to a host that is not loopback",
    )
