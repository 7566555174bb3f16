"""Every query of the Grafana dashboards runs against a real InfluxDB filled by the
simulator (raw readings), by `factory aggregate` (the kpi measurement) and with a stored
forecast, and returns data."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from analytics.aggregation import Aggregator
from analytics.forecast.outlook import History, outlook
from analytics.forecast.stored import forecast_points
from analytics.report.build import compute_report
from factory_cli.settings import Settings
from plant.model import load_plant
from simulators import Fleet, FleetConfig
from simulators.faults import Faults, fleet_messages
from store import open_store, parse_store_url
from telemetry.codec import decode
from tests.helpers.servers import Server

pytestmark = pytest.mark.integration

GRAFANA = Path(__file__).parents[2] / "deploy" / "grafana"
START = 1_767_567_600_000  # 2026-01-05T06:00+07:00


def queries() -> list[tuple[str, str]]:
    out = []
    for file in sorted((GRAFANA / "dashboards").glob("*.json")):
        board = json.loads(file.read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                out.append((f"{file.name}: {panel['title']}", target["query"]))
        for var in board.get("templating", {}).get("list", []):
            out.append((f"{file.name}: variable {var['name']}", var["query"]))
    return out


def expand(q: str, start_ms: int, end_ms: int) -> str:
    q = q.replace("$timeFilter", f"time >= {start_ms}ms AND time <= {end_ms}ms")
    q = q.replace("$__interval", "5m")
    return re.sub(r"\$(\w+)", ".*", q)  # template variables: "All"


def influxql(port: int, db: str, q: str) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/query?" + urllib.parse.urlencode(
        {"db": db, "q": q, "epoch": "ms"}
    )
    with urllib.request.urlopen(url, timeout=30) as resp:
        result: dict[str, Any] = json.loads(resp.read())["results"][0]
    return result


def test_provisioning_is_valid() -> None:
    source = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "influxdb.yml").read_text())
    (ds,) = source["datasources"]
    assert ds["type"] == "influxdb" and ds["uid"] == "factory-influxdb"
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "factory.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    for file in (GRAFANA / "dashboards").glob("*.json"):
        board = json.loads(file.read_text())
        assert board["uid"] and board["panels"]
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == ds["uid"], panel["title"]


async def test_every_dashboard_query_runs_and_returns_data(
    influx_server: Server, influx_db: str
) -> None:
    plant = load_plant(Path(__file__).parents[2] / "deploy" / "plants" / "small.toml")
    fleet = Fleet(FleetConfig(hours=6, start_ms=START, seed=2), plant)
    url = f"influxdb://127.0.0.1:{influx_server.port}/{influx_db}"
    store = open_store(parse_store_url(url))
    await store.open()
    messages, _ = fleet_messages(fleet, Faults(), root="factory", batch=500)
    decoded = [decode(t, p) for t, p in messages]
    for i in range(0, len(decoded), 50):
        await store.write(decoded[i : i + 50])
    await store.close()
    from analytics.oee.accounts import Window

    settings = Settings(store_url=url)  # type: ignore[arg-type]
    aggregator = Aggregator(settings.store_url, token=None, plant=plant, period="hour",
                            max_gap_s=60)  # fmt: skip
    hours, written = await aggregator.write(Window(fleet.start_ms, fleet.end_ms))
    assert hours == 6 and written > 0

    # The day-ahead forecast of the simulated day, as `factory aggregate` stores it: made the
    # evening before from a day of history (a flat 80 kW load: any will do for the queries).
    day = 86_400_000
    origin = START - 6 * 3_600_000  # midnight in Ho Chi Minh City
    history = History(origin - day, {}, {"plant1": np.full(96, 80.0)})
    made = outlook(plant, history)
    store = open_store(parse_store_url(url))
    await store.open()
    await store.write_points(forecast_points(made, origin - 1))
    await store.close()

    found = queries()
    assert len(found) >= 10
    for name, q in found:
        result = influxql(influx_server.port, influx_db, expand(q, fleet.start_ms, fleet.end_ms))
        assert "error" not in result, (name, result.get("error"))
        series = result.get("series", [])
        assert series and any(
            any(v is not None for row in s["values"] for v in row[1:]) for s in series
        ), (name, "no data")

    # The stat panel's OEE over the whole range (sums of hourly accounts) is the report's.
    (stat,) = [q for name, q in found if "Plant OEE over the chosen range" in name]
    result = influxql(influx_server.port, influx_db, expand(stat, fleet.start_ms, fleet.end_ms))
    (row,) = result["series"][0]["values"]
    report, _ = await compute_report(settings.store_url, Window(fleet.start_ms, fleet.end_ms),
                                     plant=plant, anomalies=False)  # fmt: skip
    assert report.oee.plant is not None and report.oee.plant.oee is not None
    assert row[1] == pytest.approx(report.oee.plant.oee, rel=1e-9)
