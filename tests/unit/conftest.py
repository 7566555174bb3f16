"""Fixtures the unit tests share (a stored simulated plant)."""

from __future__ import annotations

from pathlib import Path

import pytest

from plant.model import load_plant
from simulators.fleet import Fleet, FleetConfig
from tests.helpers.fleets import MIDNIGHT_VN, PLANTS, store_fleet


@pytest.fixture(scope="module")
def small_plant(tmp_path_factory: pytest.TempPathFactory) -> tuple[Fleet, Path]:
    import asyncio

    plant = load_plant(PLANTS / "small.toml")
    fleet = Fleet(FleetConfig(hours=30, start_ms=MIDNIGHT_VN + 5 * 3_600_000, seed=11), plant)
    db = tmp_path_factory.mktemp("report") / "t.db"
    asyncio.run(store_fleet(fleet, db))
    return fleet, db
