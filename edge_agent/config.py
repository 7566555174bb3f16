"""Settings of the edge agent (section ``[edge]``, variables ``FACTORY_EDGE__*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from edge_agent.sources.devices import ModbusMeter, OpcUaMachine, check_buses
from edge_agent.sources.plc_config import ModbusMachine, S7Machine
from telemetry.models import Name
from telemetry.urls import metrics_exposure, tls_files


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
    mqtt_version: Literal["3.1.1", "5"] = Field(
        default="3.1.1",
        description="MQTT protocol: 3.1.1 (persistent session by clean_session=false) or 5 "
        "(session expiry, reason codes)",
    )
    session_expiry_s: int = Field(
        default=86_400, ge=0, le=2**32 - 1,
        description="MQTT 5: how long the broker keeps our session (unacknowledged QoS 1 "
        "messages) while we are away",
    )  # fmt: skip
    payload: Literal["json", "sparkplug"] = Field(
        default="json",
        description="json: our topics and JSON (docs/wire-format.md); sparkplug: Sparkplug B "
        "(spBv1.0, this agent an edge node)",
    )
    sparkplug_group: str | None = Field(
        default=None,
        max_length=128,
        pattern=r"^[^/+#]+$",
        description="Sparkplug group_id (default: the site of the first machine)",
    )
    reconnect_initial_s: float = Field(default=0.5, gt=0, le=60)
    reconnect_max_s: float = Field(default=30.0, gt=0, le=3600)

    buffer: Literal["sqlite", "memory"] = Field(
        default="sqlite",
        description="sqlite: durable store-and-forward; memory: lost when the agent stops",
    )
    buffer_path: Path = Field(default=Path("factory-data/edge-buffer.db"))
    buffer_max_bytes: int = Field(default=512 * 1024 * 1024, ge=4096)
    buffer_max_age_s: float = Field(default=7 * 24 * 3600, gt=0)
    buffer_policy: Literal["drop_oldest", "reject_new"] = Field(
        default="drop_oldest", description="What to do when the buffer is full"
    )
    buffer_synchronous: Literal["FULL", "NORMAL", "OFF"] = Field(
        default="FULL", description="SQLite synchronous mode: FULL survives a power cut"
    )

    metrics_port: int | None = Field(
        default=None, ge=0, le=65_535, description="Serve /metrics on this local port (0: any)"
    )
    metrics_host: str = "127.0.0.1"
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token /metrics and /healthz require (needed when metrics_host "
        "is not loopback)",
    )
    stats_interval_s: float = Field(default=60.0, gt=0, description="Log counters this often")
    stop_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="On SIGTERM, send what is buffered while connected for at most this long; "
        "the rest stays in the buffer for the next start",
    )

    ca_file: Path | None = Field(default=None, description="CA bundle for mqtts:// brokers")
    cert_file: Path | None = Field(default=None, description="Client certificate (PEM)")
    key_file: Path | None = Field(default=None, description="Client private key (PEM)")
    tls_insecure_skip_verify: bool = Field(
        default=False,
        description="Do not check the broker's certificate name (never in production)",
    )
    allow_plaintext_password: bool = Field(
        default=False,
        description="Allow sending a password over plain mqtt:// to a host that is not loopback",
    )

    meters: tuple[ModbusMeter, ...] = Field(
        default=(),
        description="Modbus energy meters: TCP, RTU (RS-485) or RTU over TCP ([[edge.meters]])",
    )
    machines: tuple[OpcUaMachine, ...] = Field(
        default=(), description="OPC UA machines ([[edge.machines]] tables)"
    )
    modbus_machines: tuple[ModbusMachine, ...] = Field(
        default=(), description="Machines whose PLC answers Modbus ([[edge.modbus_machines]])"
    )
    s7_machines: tuple[S7Machine, ...] = Field(
        default=(), description="Machines on Siemens S7 PLCs ([[edge.s7_machines]])"
    )

    @model_validator(mode="after")
    def _check(self) -> EdgeConfig:
        tls_files(self.ca_file, self.cert_file, self.key_file)
        metrics_exposure(self.metrics_host, self.metrics_token)
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError("reconnect_max_s must be at least reconnect_initial_s")
        check_buses((*self.meters, *self.modbus_machines))
        return self
