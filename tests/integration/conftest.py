from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import Server, influxd, mosquitto


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
