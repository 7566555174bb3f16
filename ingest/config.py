"""Settings of the ingest service (section ``[ingest]``, variables ``FACTORY_INGEST__*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from ingest.sparkplug_config import SparkplugConfig
from telemetry.codec import DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_MAX_READINGS
from telemetry.models import Name
from telemetry.urls import metrics_exposure, tls_files


class IngestConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: Name = Field(
        default="factory-ingest-1",
        description="Stable MQTT client id; the broker keeps this session while we are away",
    )
    share_group: Name | None = Field(
        default=None,
        description="Shared subscription group, so several ingest processes split load",
    )
    batch_max_readings: int = Field(default=5000, ge=1, le=1_000_000)
    batch_max_delay_s: float = Field(default=1.0, gt=0, le=60)
    batch_linger_s: float = Field(
        default=0.02, ge=0, le=10, description="Write early when no message arrives for this long"
    )
    max_concurrent_writes: int = Field(
        default=2, ge=1, le=64, description="Batches being written at once (pipelining)"
    )
    max_pending_messages: int = Field(
        default=2000,
        ge=1,
        description="Messages received but not yet stored; above it we stop reading the socket",
    )
    max_payload_bytes: int = Field(default=DEFAULT_MAX_PAYLOAD_BYTES, ge=64)
    max_readings_per_message: int = Field(default=DEFAULT_MAX_READINGS, ge=1)
    max_future_s: float | None = Field(
        default=86_400.0,
        ge=0,
        description="Refuse messages with a reading more than this far ahead of our clock",
    )
    deadletter_max_payload_bytes: int = Field(default=65_536, ge=0)
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    mqtt_version: Literal["3.1.1", "5"] = Field(
        default="3.1.1",
        description="MQTT protocol: 3.1.1 (persistent session by clean_session=false) or 5 "
        "(session expiry, receive maximum, reason codes)",
    )
    session_expiry_s: int = Field(
        default=7 * 86_400, ge=0, le=2**32 - 1,
        description="MQTT 5: how long the broker keeps our session (and queues QoS 1 "
        "messages) while we are away",
    )  # fmt: skip
    receive_maximum: int | None = Field(
        default=None, ge=1, le=65_535,
        description="MQTT 5: QoS 1 messages the broker sends before we acknowledge "
        "(default: max_pending_messages, at most 65,535)",
    )  # fmt: skip
    retry_initial_s: float = Field(default=0.2, gt=0)
    retry_max_s: float = Field(default=30.0, gt=0)
    stop_timeout_s: float = Field(
        default=10.0, gt=0, description="On SIGTERM, store and acknowledge within this time"
    )
    metrics_port: int | None = Field(
        default=None, ge=0, le=65_535, description="Serve /metrics and /healthz here (0: any)"
    )
    metrics_host: str = "127.0.0.1"
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token /metrics and /healthz require (needed when metrics_host "
        "is not loopback)",
    )
    ca_file: Path | None = Field(
        default=None, description="CA bundle to verify the broker (mqtts://): the plant CA"
    )
    cert_file: Path | None = Field(
        default=None, description="Client certificate (PEM) for brokers that require one"
    )
    key_file: Path | None = Field(default=None, description="Its private key (PEM)")
    sparkplug: SparkplugConfig = Field(
        default=SparkplugConfig(),
        description="Sparkplug B from third-party edge nodes ([ingest.sparkplug])",
    )

    @model_validator(mode="after")
    def _tls_files(self) -> IngestConfig:
        metrics_exposure(self.metrics_host, self.metrics_token)
        tls_files(self.ca_file, self.cert_file, self.key_file)
        return self
