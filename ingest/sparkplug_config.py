"""Settings of Sparkplug B at ingest (``[ingest.sparkplug]``, ``FACTORY_INGEST__SPARKPLUG__*``):
which groups to subscribe to, and which Sparkplug device is which machine or meter."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from telemetry.models import MachineState, Name

FIELDS = ("state", "total_count", "good_count", "reason", "ideal_cycle_s", "product",
          "energy_kwh", "power_kw", "power_factor", "voltage_v")  # fmt: skip
"""Our fields a Sparkplug metric can feed (telemetry: state ... product; energy: the rest)."""


class SparkplugDevice(BaseModel):
    """One Sparkplug device (or an edge node's own metrics) and the machine or meter it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group: str = Field(min_length=1, max_length=128, description="Sparkplug group_id")
    node: str = Field(min_length=1, max_length=128, description="edge_node_id")
    device: str | None = Field(
        default=None,
        max_length=128,
        description="device_id; '*' maps every device of the node (machine = device_id); "
        "leave out for the node's own metrics",
    )
    site: Name
    area: Name
    line: Name
    machine: Name | None = Field(default=None, description="Our machine (not with device '*')")
    metrics: dict[str, str] = Field(
        default_factory=dict,
        description="Our field -> Sparkplug metric name, where the defaults do not find it",
    )
    state_map: dict[str, MachineState] = Field(
        default_factory=dict,
        description="Numeric state codes (as text) -> our states, e.g. {'1': 'RUNNING'}",
    )
    sensors: dict[Name, str] = Field(
        default_factory=dict,
        description="Our sensor name -> Sparkplug metric name (metrics under 'Sensors/' "
        "are sensors by default)",
    )

    @model_validator(mode="after")
    def _check(self) -> SparkplugDevice:
        if (self.device == "*") == (self.machine is not None):
            raise ValueError("set machine, or device = '*' (then each device's id is the machine)")
        unknown = sorted(set(self.metrics) - set(FIELDS))
        if unknown:
            raise ValueError(f"metrics: unknown field(s) {', '.join(unknown)}; "
                             f"known: {', '.join(FIELDS)}")  # fmt: skip
        return self


class SparkplugConfig(BaseModel):
    """Sparkplug B (spBv1.0) at ingest: off until ``groups`` names a group."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    groups: tuple[str, ...] = Field(
        default=(), description="Sparkplug group_ids to subscribe to (spBv1.0/GROUP/#)"
    )
    devices: tuple[SparkplugDevice, ...] = Field(
        default=(), description="[[ingest.sparkplug.devices]]: devices -> machines and meters"
    )
    rebirth_min_interval_s: float = Field(
        default=5.0, gt=0, le=3600, description="Ask one node for a rebirth at most this often"
    )

    @model_validator(mode="after")
    def _check(self) -> SparkplugConfig:
        for g in self.groups:
            if not g or any(c in g for c in "/+#"):
                raise ValueError(f"group {g!r}: a Sparkplug group_id (no / + #)")
        seen: set[tuple[str, str, str | None]] = set()
        for d in self.devices:
            key = (d.group, d.node, d.device)
            if key in seen:
                raise ValueError(f"device {'/'.join(x or '' for x in key)} is mapped twice")
            seen.add(key)
            if d.group not in self.groups:
                raise ValueError(f"device of group {d.group!r}: add the group to groups")
        return self
