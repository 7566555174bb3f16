"""A one-machine plant model for unit tests of logic that needs a plant (a day shift in UTC,
machine ``{site}/a/l/m``)."""

from __future__ import annotations

from pathlib import Path

from plant.model import Plant, load_plant


def one_machine_plant(
    folder: Path, *, site: str = "s", contracted_kw: float | None = None, extra: str = ""
) -> Plant:
    """The plant, with a main meter of ``contracted_kw`` if given, and ``extra`` TOML
    (root tables such as ``[[reasons]]``) after it."""
    meter = (
        "" if contracted_kw is None else f"[sites.main_meter]\ncontracted_kw = {contracted_kw}\n"
    )
    text = (
        'name = "p"\n[calendar]\ntimezone = "UTC"\n'
        '[[calendar.shifts]]\nname = "day"\nstart = "06:00"\nend = "14:00"\n'
        f'[[sites]]\nname = "{site}"\n{meter}'
        '[[sites.areas]]\nname = "a"\n[[sites.areas.lines]]\nname = "l"\n'
        '[[sites.areas.lines.machines]]\nname = "m"\n'
        'products = [{ name = "A", ideal_cycle_s = 30.0 }]\n'
    )
    (folder / "plant.toml").write_text(text + extra)
    return load_plant(folder / "plant.toml")
