"""Operator reasons on readings: the run they cover, the category's state, the catalogue."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from analytics.oee.reasons import Explained, apply
from plant.model import Plant, PlantModelError
from store.series import MachineData, telemetry_series
from telemetry.topic import MachinePath
from tests.helpers.plants import one_machine_plant

M = MachinePath("s", "a", "l", "m")
CATALOGUE = """
[[reasons]]
code = "changeover"
label = "Changeover"
category = "setup"
[[reasons]]
code = "maintenance"
label = "Planned maintenance"
category = "planned_stop"
[[reasons]]
code = "no_material"
label = "No material"
"""


def plant(tmp_path: Path, extra: str = CATALOGUE) -> Plant:
    return one_machine_plant(tmp_path, extra=extra)


def data() -> dict[MachinePath, MachineData]:
    # RUN 0-60 s, IDLE (no reason) 60-360 s, RUN, then IDLE "jam" 480-500 s (short), RUN.
    t = [0, 60, 120, 240, 360, 420, 480, 500, 560]
    states = ["RUNNING", "IDLE", "IDLE", "IDLE", "RUNNING", "RUNNING", "IDLE", "RUNNING", "RUNNING"]
    reasons = [None, None, None, None, None, None, "jam", None, None]
    cols = [[x * 1000 for x in t], states, [0] * 9, [0] * 9, [30.0] * 9, reasons]
    return {M: MachineData(telemetry_series(cols), None)}


def explained(reason: str, until_s: int = 240) -> Explained:
    return Explained(M, 60_000, until_s * 1000, "IDLE", "unspecified", reason, "", "olga", 1)


@pytest.mark.parametrize(
    ("reason", "state"), [("no_material", "IDLE"), ("changeover", "SETUP"),
                          ("maintenance", "PLANNED_STOP")],
)  # fmt: skip
def test_an_explanation_sets_the_reason_and_its_categorys_state(
    tmp_path: Path, reason: str, state: str
) -> None:
    from telemetry.models import STATES

    given = data()
    out = apply(given, [explained(reason)], plant(tmp_path))
    tel = out[M].telemetry
    assert tel is not None
    names = [tel.reasons[i] for i in tel.reason]
    assert names[1:4] == [reason] * 3 and names[0] == names[4] == "unspecified"
    assert names[6] == "jam"  # another stop keeps its own
    assert [STATES[c].value for c in tel.state[1:4]] == [state] * 3
    assert STATES[tel.state[4]].value == "RUNNING"
    # The readings handed in are left as they were (the reader's arrays are not changed).
    before, fresh = given[M].telemetry, data()[M].telemetry
    assert before is not None and fresh is not None
    assert np.array_equal(before.state, fresh.state) and before.reasons == fresh.reasons
    assert np.array_equal(before.reason, fresh.reason)


def test_explanations_that_match_no_readings_change_nothing(tmp_path: Path) -> None:
    p = plant(tmp_path)
    other = Explained(M, 60_000, 240_000, "DOWN", "unspecified", "changeover", "", "u", 1)
    elsewhere = Explained(MachinePath("s", "a", "l", "x"), 60_000, 240_000, "IDLE",
                          "unspecified", "changeover", "", "u", 1)  # fmt: skip
    given = data()
    out = apply(given, [other, elsewhere], p)
    assert out == given and out[M] is given[M]  # the same readings, not a changed copy


def test_the_catalogue_is_checked(tmp_path: Path) -> None:
    twice = CATALOGUE + '[[reasons]]\ncode = "changeover"\nlabel = "again"\n'
    with pytest.raises(PlantModelError, match="'changeover' is in the catalogue twice"):
        plant(tmp_path, twice)
    generic = '[[reasons]]\ncode = "other"\nlabel = "Other"\n'
    with pytest.raises(PlantModelError, match="both in the catalogue and generic"):
        plant(tmp_path, generic)
    with pytest.raises(PlantModelError, match="category"):
        plant(tmp_path, '[[reasons]]\ncode = "x"\nlabel = "X"\ncategory = "coffee"\n')
