"""The production plan: how many hours each line will run in each shift.

A plain CSV file, one row per line and shift instance that differs from the calendar::

    date,shift,line,planned_hours
    2026-12-01,afternoon,plant1/assembly/line2,0
    2026-12-06,morning,plant1/assembly/line1,8

``date`` is the shift's start date in the plant's time zone, ``shift`` a shift of the
calendar, ``line`` a ``site/area/line`` path of the plant and ``planned_hours`` how long the
line runs from the shift's start (0: the line does not run that shift; the rest of a cut
shift is not planned time, its machines are off). A row for a day the calendar has no
shift on (a Sunday, a holiday) adds that shift for that line: overtime. Shifts without a
row run as the calendar says. The simulator runs the plan (what a plant would do) and the
energy forecast reads it (what the plant says it will do).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from core.clock import DAY_MS, HOUR_MS, midnight
from plant.model import Calendar, Plant, PlantModelError

Period = tuple[int, int, str, str]
"""(start ms, end ms, kind "shift" or "break", shift name), as Calendar.periods gives."""

COLUMNS = ("date", "shift", "line", "planned_hours")
MAX_ROWS = 100_000


class PlanError(PlantModelError):
    """A production plan that cannot be used; the message names the row and the fix."""


@dataclass(frozen=True, slots=True)
class Plan:
    """Planned running hours by (line, shift start date, shift name)."""

    hours: dict[tuple[str, dt.date, str], float]

    def periods(self, calendar: Calendar, line: str, start_ms: int, end_ms: int) -> list[Period]:
        """The calendar's shifts and breaks for ``line`` in [start_ms, end_ms) with the plan
        applied: cut shifts end early (their later breaks go), added shifts appear."""
        rows = {(d, s): h for (ln, d, s), h in self.hours.items() if ln == line}
        if not rows:
            return calendar.periods(start_ms, end_ms)
        zone = ZoneInfo(calendar.timezone)
        first = dt.datetime.fromtimestamp(start_ms / 1000, zone).date() - dt.timedelta(days=1)
        last = dt.datetime.fromtimestamp(end_ms / 1000, zone).date()
        lo, hi = midnight(first, zone), midnight(last, zone) + 2 * DAY_MS
        full = _everyday(calendar).periods(lo, hi)
        normal = {(a, n) for a, _, k, n in calendar.periods(lo, hi) if k == "shift"}
        out: list[Period] = []
        shifts = [p for p in full if p[2] == "shift"]
        for a, b, _, name in shifts:
            day = dt.datetime.fromtimestamp(a / 1000, zone).date()
            planned = rows.get((day, name))
            if planned is None:
                if (a, name) not in normal:
                    continue
                cut = b
            else:
                cut = min(b, a + round(planned * HOUR_MS))
            if cut <= a:
                continue
            out.append((a, cut, "shift", name))
            out += [
                (x, min(y, cut), "break", n)
                for x, y, k, n in full
                if k == "break" and n == name and a <= x < cut
            ]
        clipped = [(max(a, start_ms), min(b, end_ms), k, n) for a, b, k, n in out]
        return sorted(p for p in clipped if p[1] > p[0])


def _everyday(calendar: Calendar) -> Calendar:
    """The calendar with a shift every day (to place shifts the plan adds)."""
    return calendar.model_copy(update={"non_working_days": (), "holidays": ()})


def parse_plan(text: str, plant: Plant, *, source: str = "plan") -> Plan:
    """Read a plan's CSV text against ``plant``; :class:`PlanError` says which row is wrong."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or set(COLUMNS) - set(reader.fieldnames):
        raise PlanError(f"{source}: the header must be {','.join(COLUMNS)}")
    shifts = {s.name: s for s in plant.calendar.shifts}
    lines = set(plant.lines())
    hours: dict[tuple[str, dt.date, str], float] = {}
    for n, row in enumerate(reader, start=2):
        if n > MAX_ROWS + 1:
            raise PlanError(f"{source}: more than {MAX_ROWS} rows; split the plan")
        where = f"{source}, row {n}"
        try:
            day = dt.date.fromisoformat((row["date"] or "").strip())
        except ValueError:
            raise PlanError(f"{where}: date {row['date']!r} is not YYYY-MM-DD") from None
        name = (row["shift"] or "").strip()
        if name not in shifts:
            raise PlanError(f"{where}: no shift {name!r} in the calendar ({', '.join(shifts)})")
        line = (row["line"] or "").strip()
        if line not in lines:
            raise PlanError(f"{where}: no line {line!r} in the plant (site/area/line)")
        try:
            value = float((row["planned_hours"] or "").strip())
        except ValueError:
            raise PlanError(f"{where}: planned_hours {row['planned_hours']!r} is not a number"
                            ) from None  # fmt: skip
        length = shifts[name].length_min / 60
        if not 0 <= value <= length:
            raise PlanError(f"{where}: planned_hours {value} is outside 0..{length:g} "
                            f"(the length of shift {name})")  # fmt: skip
        key = (line, day, name)
        if key in hours:
            raise PlanError(f"{where}: {line} {day} {name} is planned twice")
        hours[key] = value
    return Plan(hours)


def load_plan(path: str | Path, plant: Plant) -> Plan:
    file = Path(path)
    try:
        if file.is_file() and file.stat().st_size > 16 * 1024 * 1024:
            raise PlanError(f"production plan {file} is larger than 16 MiB; split it")
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(f"production plan {file} not found") from None
    except (UnicodeDecodeError, OSError) as exc:
        raise PlanError(f"production plan {file} cannot be read: {exc}") from None
    try:
        return parse_plan(text, plant, source=str(file))
    except (csv.Error, PlantModelError) as exc:
        raise PlanError(f"{file}: {exc}") from None
