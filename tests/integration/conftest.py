"""Fixtures the integration tests share: Mosquitto and InfluxDB once per session, a topic
root and a database per test, stored plants and scenarios once per module, test certificates."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from plant.model import Plant, load_plant
from simulators.fleet import Fleet, FleetConfig
from telemetry.codec import Message
from tests.helpers.fleets import MIDNIGHT_VN, PLANTS, store_fleet
from tests.helpers.scenario import make_scenario
from tests.helpers.servers import Server, influxd, mosquitto

DEPLOY = Path(__file__).parents[2] / "deploy"


@pytest.fixture(scope="session")
def mosquitto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with mosquitto(tmp_path_factory.mktemp("mosquitto")) as server:
        yield server


@pytest.fixture(scope="session")
def influx_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with influxd(tmp_path_factory.mktemp("influxd")) as server:
        yield server


@pytest.fixture
def topic_root() -> str:
    """A topic root of its own for each test."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def influx_db() -> str:
    """A database of its own for each test."""
    return f"db_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Fleet, Path]:
    plant = load_plant(PLANTS / "small.toml")
    fleet = Fleet(FleetConfig(hours=16, start_ms=MIDNIGHT_VN + 5 * 3_600_000, seed=13), plant)
    db = tmp_path_factory.mktemp("dash") / "t.db"
    asyncio.run(store_fleet(fleet, db))
    return fleet, db


@pytest.fixture(scope="module")
def week_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Fleet, Path]:
    plant = load_plant(PLANTS / "small.toml")
    config = FleetConfig(hours=9 * 24, start_ms=MIDNIGHT_VN, seed=17, interval_s=60.0,
                         sensors=False, meter_details=False)  # fmt: skip
    fleet = Fleet(config, plant)
    db = tmp_path_factory.mktemp("forecast") / "t.db"
    asyncio.run(store_fleet(fleet, db))
    return fleet, db


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plant CA and a server certificate for localhost and 127.0.0.1 (make-certs.sh)."""
    out = tmp_path_factory.mktemp("certs")
    subprocess.run([str(DEPLOY / "mosquitto" / "make-certs.sh"), str(out), "localhost",
                    "127.0.0.1"], check=True, capture_output=True)  # fmt: skip
    return out


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Plant, list[Message]]]:
    plant, messages, _ = make_scenario(tmp_path_factory)
    yield plant, messages


@pytest.fixture(scope="module")
def scenario_fleet(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Plant, list[Message], Fleet]:
    return make_scenario(tmp_path_factory)
