"""A machine's current values (from OPC UA changes or PLC polls) as our telemetry readings."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from telemetry.models import MachineState
from telemetry.topic import MachinePath

log = logging.getLogger("edge_agent.machine")


class MachineLike(Protocol):
    @property
    def path(self) -> MachinePath: ...

    @property
    def state_map(self) -> Mapping[str, MachineState]: ...

    @property
    def ideal_cycle_s(self) -> float | None: ...

    @property
    def heartbeat_s(self) -> float: ...


class CurrentValues:
    """The current values of one machine, turned into wire readings."""

    def __init__(self, m: MachineLike, first_seq: int) -> None:
        self.m = m
        self.seq = first_seq
        self.values: dict[str, Any] = {}
        self.unknown_codes: set[str] = set()
        self.warned_counts = False

    def reading(self, ts: int) -> dict[str, Any] | None:
        v = self.values
        if not {"state", "total_count", "good_count"} <= v.keys():
            return None
        code = str(v["state"])
        state = self.m.state_map.get(code)
        if state is None:
            if code not in self.unknown_codes:
                self.unknown_codes.add(code)
                log.error(
                    "machine %s reports state code %r, which state_map does not map; "
                    "add it (e.g. '%s' = 'DOWN')",
                    self.m.path,
                    code,
                    code,
                )
            return None
        total, good = int(v["total_count"]), int(v["good_count"])
        if good > total:
            # The two counters change one after the other (and reset one after the other
            # when the PLC restarts): wait for a pair that can be true, which ingest would
            # otherwise refuse, together with the rest of its batch.
            if not self.warned_counts:
                self.warned_counts = True
                log.warning(
                    "machine %s: good_count %d above total_count %d; waiting for consistent "
                    "counters (if this persists, check the node mapping)", self.m.path, good,
                    total,
                )  # fmt: skip
            return None
        out: dict[str, Any] = {
            "ts": ts,
            "seq": self.seq,
            "state": state.value,
            "total_count": total,
            "good_count": good,
        }
        cycle = v.get("ideal_cycle_s", self.m.ideal_cycle_s)
        if cycle:
            out["ideal_cycle_s"] = float(cycle)
        if v.get("reason"):
            out["reason"] = str(v["reason"])
        sensors = {k[len("sensor:") :]: float(x) for k, x in v.items() if k.startswith("sensor:")}
        if sensors:
            out["sensors"] = sensors
        self.seq += 1
        return out
