"""The alert scenario: a two-line plant over a morning and the start of an afternoon, with a
breakdown, an unexplained idle spell and a silent gateway injected at known times."""

from __future__ import annotations

import datetime as dt

import pytest

from plant.model import Plant, load_plant
from simulators.faults import Faults, fleet_messages
from simulators.fleet import Fleet, FleetConfig
from store import Store
from telemetry.codec import Message, decode
from telemetry.models import MachineState, TelemetryReading

MIN = 60_000


H = 60 * MIN


T0 = int(dt.datetime(2026, 3, 3, 6, 0, tzinfo=dt.UTC).timestamp() * 1000)  # a Tuesday, 06:00


NOW1 = T0 + 4 * H  # 10:00: the breakdown has lasted 45 min, line2 silent for 10


NOW2 = NOW1 + 30 * MIN  # 10:30: press01 runs again since 10:20, line2's backlog arrived


NOW3 = T0 + 8 * H + 45 * MIN  # 14:45: 45 minutes into the afternoon shift


PLANT = """
name = "Alert test plant"
[calendar]
timezone = "UTC"
[[calendar.shifts]]
name = "morning"
start = "06:00"
end = "14:00"
[[calendar.shifts]]
name = "afternoon"
start = "14:00"
end = "22:00"
[[reasons]]
code = "changeover"
label = "Changeover"
category = "setup"
[[reasons]]
code = "no_material"
label = "No material"
[[sites]]
name = "plant1"
[[sites.areas]]
name = "assembly"
[[sites.areas.lines]]
name = "line1"
oee_target = 0.7
[[sites.areas.lines.machines]]
name = "press"
count = 2
products = [{ name = "A", ideal_cycle_s = 30.0 }]
mtbf_s = 20000
mttr_s = 300
[[sites.areas.lines]]
name = "line2"
[[sites.areas.lines.machines]]
name = "cnc"
count = 2
products = [{ name = "C", ideal_cycle_s = 45.0 }]
mtbf_s = 20000
mttr_s = 300
"""


# (machine, state, reason, from, to): the injected incidents. Counters stand still in them
# and go on from there afterwards, as a real machine's would.
INCIDENTS = [
    ("press01", MachineState.DOWN, "motor_fault", NOW1 - 45 * MIN, NOW1 + 20 * MIN),
    ("press02", MachineState.IDLE, None, T0 + 1 * H, T0 + 3 * H + 15 * MIN),  # no reason sent
]


SILENT = ("line2", NOW1 - 10 * MIN)  # line2's gateway holds everything from 09:50


def inject(messages: list[Message]) -> list[Message]:
    """The fleet's telemetry with the incidents: state replaced, counters held."""
    held: dict[str, tuple[int, int]] = {}
    out = []
    for m in sorted(messages, key=lambda m: m.readings[0].ts):
        readings = []
        for r in m.readings:
            for machine, state, reason, lo, hi in INCIDENTS:
                if m.topic.path.machine != machine or not isinstance(r, TelemetryReading):
                    continue
                if lo <= r.ts < hi:
                    base = held.setdefault(machine, (r.total_count, r.good_count))
                    lost = (r.total_count - base[0], r.good_count - base[1])
                    held[machine + "/lost"] = lost
                    held_counts = {"total_count": base[0], "good_count": base[1]}
                    r = r.model_copy(update={"state": state, "reason": reason, **held_counts})
                elif r.ts >= hi and machine + "/lost" in held:
                    lt, lg = held[machine + "/lost"]
                    r = r.model_copy(update={"total_count": r.total_count - lt,
                                             "good_count": r.good_count - lg})  # fmt: skip
            readings.append(r)
        out.append(Message(m.topic, tuple(readings)))
    return out


def split_messages(messages: list[Message]) -> list[Message]:
    """One message per reading, so that windows of time can be written apart."""
    return [Message(m.topic, (r,)) for m in messages for r in m.readings]


def make_scenario(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Plant, list[Message], Fleet]:
    folder = tmp_path_factory.mktemp("alerts")
    (folder / "plant.toml").write_text(PLANT)
    plant = load_plant(folder / "plant.toml")
    config = FleetConfig(hours=(NOW3 - T0) / H, start_ms=T0, seed=3, interval_s=30.0,
                         sensors=False, meter_details=False)  # fmt: skip
    fleet = Fleet(config, plant)
    raw, _ = fleet_messages(fleet, Faults(), root="factory", batch=50)
    decoded = split_messages([decode(topic, payload) for topic, payload in raw])
    return plant, inject(decoded), fleet


async def write_until(store: Store, messages: list[Message], lo: int, hi: int) -> None:
    """The readings of [lo, hi) that have reached the store by ``hi`` (line2 holds its
    readings from 09:50 until 10:30)."""
    line, quiet_from = SILENT

    def arrived(m: Message) -> bool:
        ts = m.readings[0].ts
        if m.topic.path.line == line and ts >= quiet_from and hi <= NOW1:
            return False
        return ts < hi and (ts >= lo or (m.topic.path.line == line and ts >= quiet_from))

    batch = [m for m in messages if arrived(m)]
    for i in range(0, len(batch), 500):
        await store.write(batch[i : i + 500])
