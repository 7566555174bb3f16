"""Simulator -> edge agent -> Mosquitto -> ingest -> InfluxDB -> analytics, against the truth."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from analytics.aggregation import Aggregator
from analytics.oee.accounts import Window, aggregate
from analytics.report.build import compute_report
from factory_cli.pipeline import run_pipeline
from factory_cli.settings import Settings
from simulators import Fleet, FleetConfig
from telemetry.urls import parse_mqtt_url
from tests.helpers.fleets import assert_same, without_sources
from tests.helpers.servers import Server, influx_query

pytestmark = pytest.mark.integration


def _settings(store_url: str, root: str, workdir: Path) -> Settings:
    return Settings(
        store_url=store_url,  # type: ignore[arg-type]
        topic_root=root,
        ingest={  # type: ignore[arg-type]
            "client_id": f"ingest-{uuid.uuid4().hex[:8]}",
        },
        edge={"client_id": f"edge-{uuid.uuid4().hex[:8]}"},  # type: ignore[arg-type]
    )


def _check_against_truth(result: object) -> None:
    kpis = result.kpis  # type: ignore[attr-defined]
    truth = result.truth  # type: ignore[attr-defined]
    assert set(kpis) == set(truth), "every simulated machine must be reported"
    for path, kpi in kpis.items():
        t = truth[path]
        for key in ("availability", "performance", "quality", "oee"):
            measured = getattr(kpi, key)
            assert measured is not None, f"{path} {key} missing"
            assert abs(measured - t[key]) <= 1e-4, f"{path} {key}: {measured} vs truth {t[key]}"
        assert kpi.total_count == t["total_count"]
        assert kpi.good_count == t["good_count"]
        assert kpi.kwh_per_good_unit == pytest.approx(t["kwh_per_good_unit"], rel=0.02)


async def test_fleet_through_mosquitto_and_influxdb_matches_truth(
    mosquitto_server: Server, influx_server: Server, topic_root: str, influx_db: str, workdir: Path
) -> None:
    fleet = Fleet(FleetConfig(machines=6, lines=2, hours=8, seed=7))
    settings = _settings(
        f"influxdb://127.0.0.1:{influx_server.port}/{influx_db}", topic_root, workdir
    )
    endpoint = parse_mqtt_url(f"mqtt://127.0.0.1:{mosquitto_server.port}")
    result = await run_pipeline(settings, fleet, endpoint=endpoint, duration_s=None, console=None)
    assert result.published == fleet.reading_count
    assert result.stored == fleet.reading_count + 2 * (
        len(fleet.paths) + 1
    )  # + births and farewells
    assert result.rejected == 0
    _check_against_truth(result)

    # The full report from InfluxDB: anomalies from the sensor fields, maturity.
    window = result.window
    report, _ = await compute_report(settings.store_url, window)
    assert report.oee.plant is not None
    assert report.oee.plant.oee == pytest.approx(aggregate(result.kpis.values()).oee, abs=1e-9)
    assert report.anomalies is not None and report.anomalies.machines_with_sensor == 6
    assert report.maturity.label != "pre-3.0"

    # The pipeline ran the aggregation beside ingest; its accounts are current.
    assert result.accounted_hours >= 8 and result.sources == ("accounts",)
    # A backfill of the window recomputes the same hours (idempotent).
    aggregator = Aggregator(settings.store_url, token=None, plant=None, period="hour",
                            max_gap_s=60)  # fmt: skip
    hours, written = await aggregator.write(window)
    assert hours == 8 and written > 0
    # Reports from the stored accounts equal reports from every raw reading, in InfluxDB.
    inner = Window(window.start_ms + 7_001, window.end_ms - 1_800_000)
    for w, by in ((window, None), (window, "hour"), (inner, None)):
        raw, _ = await compute_report(settings.store_url, w, by=by, raw=True)  # type: ignore[arg-type]
        stored, _ = await compute_report(settings.store_url, w, by=by)  # type: ignore[arg-type]
        assert_same(without_sources(raw.as_json_dict()), without_sources(stored.as_json_dict()))
        assert any(s.source == "accounts" for s in stored.sources)
    (series,) = influx_query(
        influx_server.port, influx_db,
        "SELECT sum(good_count) FROM kpi WHERE level = 'machine' AND period = 'hour'",
    )  # fmt: skip
    assert series["values"][0][1] == sum(k.good_count for k in result.kpis.values())
    (lines,) = influx_query(
        influx_server.port, influx_db,
        "SELECT count(oee) FROM kpi WHERE level = 'line' AND machine = '_all'",
    )  # fmt: skip
    assert lines["values"][0][1] == 2 * 8  # 2 lines, 8 hours (no whole day: no day points)


async def test_fleet_through_mosquitto_and_sqlite_matches_truth(
    mosquitto_server: Server, topic_root: str, workdir: Path
) -> None:
    fleet = Fleet(FleetConfig(machines=4, lines=2, hours=4, seed=11))
    settings = _settings(f"sqlite:///{workdir / 'telemetry.db'}", topic_root, workdir)
    endpoint = parse_mqtt_url(f"mqtt://127.0.0.1:{mosquitto_server.port}")
    result = await run_pipeline(settings, fleet, endpoint=endpoint, duration_s=None, console=None)
    assert result.stored == fleet.reading_count + 2 * (len(fleet.paths) + 1)
    _check_against_truth(result)


async def test_fleet_speaking_sparkplug_b_matches_truth(
    mosquitto_server: Server, topic_root: str, workdir: Path
) -> None:
    """Every device of the simulated plant speaks Sparkplug B (our agent as the edge node, our
    ingest as the host, no mapping: the births say where each device is)."""
    fleet = Fleet(FleetConfig(machines=4, lines=2, hours=4, seed=11))
    site = fleet.paths[0].site
    settings = Settings(
        store_url=f"sqlite:///{workdir / 'sparkplug.db'}",  # type: ignore[arg-type]
        topic_root=topic_root,
        ingest={  # type: ignore[arg-type]
            "client_id": f"ingest-{uuid.uuid4().hex[:8]}",
            "sparkplug": {"groups": [site]},
        },
        edge={  # type: ignore[arg-type]
            "client_id": f"edge-{uuid.uuid4().hex[:8]}",
            "payload": "sparkplug",
            "buffer_path": str(workdir / "sparkplug-buffer.db"),
        },
    )
    endpoint = parse_mqtt_url(f"mqtt://127.0.0.1:{mosquitto_server.port}")
    result = await run_pipeline(settings, fleet, endpoint=endpoint, duration_s=None, console=None)
    assert result.published == fleet.reading_count
    assert result.rejected == 0
    # Every reading, a status per device birth (8 devices: 4 machines and their meters) and
    # one per device at the death certificate.
    assert result.stored == fleet.reading_count + 2 * 2 * len(fleet.paths)
    _check_against_truth(result)
