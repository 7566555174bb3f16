"""The simulator: deterministic, and its truth agrees with an independent reading of its stream."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from simulators import Fleet, FleetConfig
from telemetry.codec import decode
from telemetry.models import Channel
from telemetry.topic import Topic


def stream(fleet: Fleet) -> list[str]:
    out = []
    for _, groups in fleet.chunks(900_000):
        for path, channel, readings in groups:
            out.append(json.dumps({"topic": str(Topic(path, channel)), "payload": readings}))
    return out


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    a = stream(Fleet(FleetConfig(machines=3, hours=2, seed=5)))
    b = stream(Fleet(FleetConfig(machines=3, hours=2, seed=5)))
    c = stream(Fleet(FleetConfig(machines=3, hours=2, seed=6)))
    assert a == b
    assert a != c


def test_every_reading_is_valid_and_seq_and_ts_increase() -> None:
    fleet = Fleet(FleetConfig(machines=4, hours=3, seed=1))
    last: dict[str, tuple[int, int]] = {}
    n = 0
    for line in stream(fleet):
        item = json.loads(line)
        m = decode(item["topic"], json.dumps(item["payload"]).encode())
        for r in m.readings:
            key = item["topic"]
            if key in last:
                assert r.seq == last[key][0] + 1, "seq has no gaps"
                assert r.ts > last[key][1], "ts increases"
            last[key] = (r.seq, r.ts)
            n += 1
    assert n == fleet.reading_count


def independent_truth(
    readings: list[dict[str, object]], energy: list[dict[str, object]], threshold_s: float = 120
) -> dict[str, float]:
    """Plain Python, interval by interval, with none of the analytics code.

    Consecutive DOWN/IDLE intervals make one stop; shorter than the threshold it
    counts as operating time (a small stop), else as downtime.
    """
    run = planned = ideal = small = 0.0
    stop = 0.0
    for a, b in itertools.pairwise(readings):
        dt = (int(b["ts"]) - int(a["ts"])) / 1000  # type: ignore[call-overload]
        if a["state"] in ("DOWN", "IDLE"):
            stop += dt
        else:
            small += stop if stop < threshold_s else 0.0
            stop = 0.0
        if a["state"] == "RUNNING":
            run += dt
        if a["state"] not in ("PLANNED_STOP", "OFF"):
            planned += dt
        ideal += float(a["ideal_cycle_s"]) * (int(b["total_count"]) - int(a["total_count"]))  # type: ignore[arg-type, call-overload]
    small += stop if stop < threshold_s else 0.0
    total = int(readings[-1]["total_count"])  # type: ignore[call-overload]
    good = int(readings[-1]["good_count"])  # type: ignore[call-overload]
    kwh = float(energy[-1]["energy_kwh"]) - float(energy[0]["energy_kwh"])  # type: ignore[arg-type]
    return {
        "availability": (run + small) / planned,
        "performance": ideal / (run + small),
        "quality": good / total,
        "kwh_per_good_unit": kwh / good,
        "total_count": total,
        "good_count": good,
    }


def test_truth_agrees_with_an_independent_reading_of_the_stream() -> None:
    fleet = Fleet(FleetConfig(machines=5, lines=2, hours=8, seed=3))
    truth = fleet.truth()
    per_topic: dict[tuple[object, Channel], list[dict[str, object]]] = {}
    for _, groups in fleet.chunks(3_600_000):
        for path, channel, readings in groups:
            per_topic.setdefault((path, channel), []).extend(readings)
    for path, t in truth.items():
        got = independent_truth(
            per_topic[(path, Channel.TELEMETRY)], per_topic[(path, Channel.ENERGY)]
        )
        assert got["availability"] == pytest.approx(t.availability, abs=1e-9)
        assert got["performance"] == pytest.approx(t.performance, abs=1e-9)
        assert got["quality"] == pytest.approx(t.quality, abs=1e-12)
        assert got["total_count"] == t.total_count and got["good_count"] == t.good_count
        # The register has 1 Wh resolution; the truth is the exact integral.
        assert got["kwh_per_good_unit"] == pytest.approx(t.kwh_per_good_unit, rel=1e-4)
        assert 0 < t.oee < 1


def test_model_honours_its_parameters_roughly() -> None:
    """Over many shifts the scrap rate and the share of planned stops follow the spec."""
    fleet = Fleet(FleetConfig(machines=20, lines=4, hours=8, seed=9))
    for s in fleet.streams:
        run = s.run
        scrap = run.scrap_flags.mean() if len(run.scrap_flags) else 0.0
        assert scrap == pytest.approx(run.spec.scrap_rate, abs=0.06)
        dur = (run.seg_end - run.seg_start) / 1000
        planned_stop = dur[run.seg_state == 4].sum()
        assert planned_stop == pytest.approx(3600.0)  # 15 + 30 + 15 min of breaks in 8 h
        assert np.all(np.diff(run.seg_start) > 0)


def test_same_seed_same_bytes_through_the_cli(tmp_path: object) -> None:
    from pathlib import Path

    from factory_cli.main import main

    out = Path(str(tmp_path))
    common = ["simulate", "--hours", "2", "--start", "2026-01-05T06:00:00+07:00"]
    plant = ["--plant", str(Path(__file__).parents[2] / "deploy" / "plants" / "small.toml")]
    assert main([*common, *plant, "--seed", "5", "--output", str(out / "a.jsonl")]) == 0
    assert main([*common, *plant, "--seed", "5", "--output", str(out / "b.jsonl")]) == 0
    assert main([*common, *plant, "--seed", "6", "--output", str(out / "c.jsonl")]) == 0
    a, b, c = ((out / f"{x}.jsonl").read_bytes() for x in "abc")
    assert a == b, "same seed and options: byte-identical stream"
    assert a != c
    assert len(a.splitlines()) > 100


def test_failures_repairs_and_scrap_follow_the_parameters() -> None:
    """Over 31 simulated days the measured rates match the configuration.

    Failures are exponential, so failures per run hour estimate 1/MTBF whatever
    else interrupts a run; with about 600 failures the standard error is ~4 %,
    hence the 15 % tolerance (the seed is fixed: the test cannot flake).
    """
    from simulators.machine import DOWN, FAILURE_REASONS, RUN, MachineSpec, simulate_machine
    from telemetry.topic import MachinePath

    spec = MachineSpec(
        path=MachinePath("s", "a", "l", "m"),
        mtbf_s=3600.0,
        mttr_s=600.0,
        mean_time_between_idle_s=7200.0,
        scrap_rate=0.03,
    )
    run = simulate_machine(spec, 1_767_600_000_000, 744 * 3600.0, np.random.default_rng(1))
    dur = (run.seg_end - run.seg_start) / 1000.0
    reasons = np.array(run.seg_reason, dtype=object)
    failure = (run.seg_state == DOWN) & np.isin(reasons, FAILURE_REASONS)
    failures = int(failure.sum())
    run_s = float(dur[run.seg_state == RUN].sum())
    assert failures > 400
    assert run_s / failures == pytest.approx(spec.mtbf_s, rel=0.15)
    # Repairs cut short by a planned break are left out of the mean.
    nxt = np.append(run.seg_state[1:], -1)
    whole = failure & (nxt != 4)
    assert dur[whole].mean() == pytest.approx(spec.mttr_s, rel=0.15)
    # Short stops: a Poisson process over run time, exponential lengths.
    short = (run.seg_state == DOWN) & ~failure
    assert short.sum() > 1500
    assert short.sum() / (run_s / 3600) == pytest.approx(spec.micro_stops_per_hour, rel=0.1)
    assert dur[short & (nxt != 4)].mean() == pytest.approx(spec.micro_stop_mean_s, rel=0.1)
    assert run.scrap_flags.mean() == pytest.approx(spec.scrap_rate, abs=0.006)


def test_sensors_follow_the_state_and_bearing_faults_ramp_before_failures() -> None:
    from simulators.machine import RUN

    with_sensors = Fleet(FleetConfig(machines=6, hours=24, seed=8))
    without = Fleet(FleetConfig(machines=6, hours=24, seed=8, sensors=False))
    assert with_sensors.truth() == without.truth(), "sensors never change the timelines"
    assert without.anomalies() == {}
    ramps = 0
    for s in with_sensors.streams:
        assert s.sensors is not None
        t, temp, vib = s.times_ms, s.sensors.temperature_c, s.sensors.vibration_mm_s
        state = s.run.state_at(t)
        # Hot while running (after warming up), near ambient after a long stop.
        assert np.median(temp[state == RUN]) > 45
        assert np.median(temp[state != RUN]) < np.median(temp[state == RUN])
        for a in with_sensors.anomalies()[s.path]:
            late = (t >= a["failure_ms"] - 300_000) & (t < a["failure_ms"]) & (state == RUN)
            early = (t >= a["start_ms"]) & (t < a["start_ms"] + 300_000) & (state == RUN)
            if late.any() and early.any():
                assert vib[late].mean() > vib[early].mean() + 1.5
                ramps += 1
    assert ramps >= 3, "some failures are announced by a bearing fault"


def test_fast_json_text_is_exactly_what_json_dumps_makes() -> None:
    from plant.model import load_plant

    plant = load_plant(Path(__file__).parents[2] / "deploy" / "plants" / "small.toml")
    for fleet in (Fleet(FleetConfig(hours=3, seed=2), plant), Fleet(FleetConfig(hours=2))):
        plain = list(fleet.chunks(900_000))
        encoded = list(fleet.encoded_chunks(900_000))
        assert len(plain) == len(encoded)
        for (_, groups), (_, texts) in zip(plain, encoded, strict=True):
            for (path, channel, readings), (path2, channel2, text) in zip(
                groups, texts, strict=True
            ):
                assert (path, channel) == (path2, channel2)
                assert "[" + ",".join(text) + "]" == json.dumps(readings, separators=(",", ":"))
