"""The source of a real plant: Modbus meters (TCP, RTU lines) and OPC UA machines, merged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence

from edge_agent.sources.base import Group, Resume
from edge_agent.sources.devices import DeviceStats, ModbusMeter, OpcUaMachine
from edge_agent.sources.modbus import buses, poll_meter
from edge_agent.sources.opcua import watch_machine
from edge_agent.sources.plc import poll_machine
from edge_agent.sources.plc_config import ModbusMachine, S7Machine
from telemetry.models import Channel
from telemetry.topic import MachinePath

log = logging.getLogger(__name__)
STOP_WAIT_S = 3.0


class DeviceSource:
    """Runs one poller or subscription per device and yields their readings as they come."""

    def __init__(
        self,
        *,
        meters: Sequence[ModbusMeter] = (),
        machines: Sequence[OpcUaMachine] = (),
        plcs: Sequence[ModbusMachine | S7Machine] = (),
    ) -> None:
        if not meters and not machines and not plcs:
            raise ValueError("no devices configured: add [[edge.meters]], [[edge.machines]], "
                             "[[edge.modbus_machines]] or [[edge.s7_machines]]")  # fmt: skip
        self._meters = list(meters)
        self._machines = list(machines)
        self._plcs = list(plcs)
        self.stats: dict[str, DeviceStats] = {}

    @property
    def machines(self) -> Sequence[MachinePath]:
        seen: dict[MachinePath, None] = {}
        for d in [*self._machines, *self._plcs, *self._meters]:
            seen[d.path] = None
        return list(seen)

    async def batches(self, resume: Resume) -> AsyncIterator[list[Group]]:
        queue: asyncio.Queue[Group] = asyncio.Queue(maxsize=10_000)

        def emit(group: Group) -> None:
            queue.put_nowait(group)

        def first(path: MachinePath, channel: Channel) -> int:
            mark = resume.get((path, channel))
            return 0 if mark is None else mark[0] + 1

        tasks = []
        on_modbus = [*self._meters, *(p for p in self._plcs if isinstance(p, ModbusMachine))]
        lines = buses(on_modbus) if on_modbus else {}
        for meter in self._meters:
            stats = self.stats.setdefault(f"modbus {meter.path}", DeviceStats())
            poll = poll_meter(meter, emit, first_seq=first(meter.path, Channel.ENERGY),
                              stats=stats, bus=lines[meter.bus])  # fmt: skip
            tasks.append(asyncio.create_task(poll, name=f"modbus {meter.path}"))
        for plc in self._plcs:
            kind = "modbus" if isinstance(plc, ModbusMachine) else "s7"
            stats = self.stats.setdefault(f"{kind} {plc.path}", DeviceStats())
            line = lines.get(plc.bus) if isinstance(plc, ModbusMachine) else None
            poll = poll_machine(plc, emit, first_seq=first(plc.path, Channel.TELEMETRY),
                                stats=stats, bus=line)  # fmt: skip
            tasks.append(asyncio.create_task(poll, name=f"{kind} {plc.path}"))
        for m in self._machines:
            stats = self.stats.setdefault(f"opcua {m.path}", DeviceStats())
            tasks.append(
                asyncio.create_task(
                    watch_machine(m, emit, first_seq=first(m.path, Channel.TELEMETRY), stats=stats),
                    name=f"opcua {m.path}",
                )
            )
        try:
            while True:
                groups = [await queue.get()]
                while not queue.empty():
                    groups.append(queue.get_nowait())
                for t in tasks:
                    if t.done() and t.exception() is not None:
                        raise t.exception()  # type: ignore[misc]
                yield groups
        finally:
            for t in tasks:
                t.cancel()
            # A device library that swallows the cancellation inside a request must not hold
            # up the agent's stop: wait a bounded time, then leave it behind (logged).
            if tasks:
                _, stuck = await asyncio.wait(tasks, timeout=STOP_WAIT_S)
                for t in stuck:
                    log.warning("%s did not stop within %.0f s; left behind", t.get_name(),
                                STOP_WAIT_S)  # fmt: skip
            for line in lines.values():
                line.close()
