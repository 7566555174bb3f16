"""The plant as deployed, in a few minutes: `python -m benchmarks.plant`'s recipe (the secure
broker with the generated ACL, InfluxDB, two ingest on the shared subscription, the
aggregation, the dashboard over TLS with a signed-in browser, a gateway per line) and its
faults (broker restarted, store stopped, an ingest killed, a gateway offline and flushing
late), on the small plant at 25 times real time: nothing is lost, the stored accounts equal
the raw readings, and every overview the browser opened completed."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.plant import parser, run
from tests.helpers.fleets import PLANTS

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a deployment for ~3 minutes


async def test_the_small_plant_as_deployed_loses_nothing_through_its_faults(
    tmp_path: Path,
) -> None:
    args = parser().parse_args(["--plant", str(PLANTS / "small.toml"), "--hours", "0.04",
                                "--speedup", "25", "--reload-s", "10", "--kpi-every-s", "10",
                                "--history-h", "1", "--keep", str(tmp_path)])  # fmt: skip
    got = await run(args)
    assert [f["fault"] for f in got["faults"]] == [
        "mosquitto restarted",
        "influxdb stopped",
        "ingest-2 killed",
        "gateway offline",
    ]
    # An hour of 7 machines and meters every 5 s: thousands of readings, every one stored.
    assert got["readings_published"] > 5_000, got
    assert got["readings_lost"] == 0 and got["lost_where"] == {}, got
    assert got["readings_stored"] == got["readings_published"], got
    assert got["gateways_acknowledged"] >= got["readings_published"], got
    assert got["services_exited"] == [], got
    assert got["accounts_equal_raw"], got["accounts_difference"]
    assert got["accounts_hours"] >= 1, got  # whole hours served from stored accounts
    assert got["kpi_passes"] >= 3, got
    assert got["overview_loads"] >= 8 and got["overview_incomplete"] == 0, got
