"""The plant model, the configuration file and the production plan get the treatment the
MQTT side has: too large, not UTF-8, not TOML, nested too deeply, wrong types, hostile
names: each refused with a message that names the file and the fix, never a traceback."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from core.errors import ConfigError
from factory_cli.settings import load_settings
from plant.model import PlantModelError, load_plant
from plant.plan import PlanError, load_plan

SMALL = Path(__file__).parents[2] / "deploy" / "plants" / "small.toml"

HOSTILE: list[tuple[str, bytes, str]] = [
    ("too large", b"# " + b"x" * (4 * 1024 * 1024 + 1), "at most 4,194,304"),
    ("not UTF-8", b"\xff\xfe\x00name = 1", "not UTF-8"),
    ("not TOML", b"name = [", "not valid TOML"),
    ("nested", b"a = " + b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
    ("folder", b"", "is a folder|not found"),
]


@pytest.mark.parametrize(("case", "content", "words"), HOSTILE, ids=[c for c, _, _ in HOSTILE])
@pytest.mark.parametrize(
    ("load", "error"), [(load_plant, PlantModelError), (load_settings, ConfigError)],
    ids=["plant", "settings"],
)  # fmt: skip
def test_a_hostile_file_is_refused_clearly(
    tmp_path: Path, case: str, content: bytes, words: str,
    load: Callable[[Path], object], error: type[Exception],
) -> None:  # fmt: skip
    path = tmp_path / "f.toml"
    if case == "folder":
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(error, match=words):
        load(path)


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (('name = "line1"', 'name = "../../etc"'), "lines.0.name: String should match"),
        (('name = "line1"', 'name = "line1\\r\\nX-Injected: 1"'), "lines.0.name"),
        (('name = "incomer"', 'name = "in/comer"'), "main_meter.name"),
        (("count = 2", 'count = "two"'), "count: Input should be a valid integer"),
        (("count = 2", "count = 100000"), "count: Input should be less than or equal to 1000"),
        (('timezone = "Asia/Ho_Chi_Minh"', 'timezone = "../../etc/passwd"'), "unknown time zone"),
    ],
)
def test_hostile_values_in_the_plant_model_name_their_key(
    tmp_path: Path, edit: tuple[str, str], words: str
) -> None:
    text = SMALL.read_text()
    assert edit[0] in text
    path = tmp_path / "plant.toml"
    path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(PlantModelError, match=words.replace(".", r"\.")):
        load_plant(path)


def test_hostile_settings_name_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "factory.toml"
    path.write_text('[serve]\nanonymous = "everyone"\nsession_minutes = -1\n[edge]\nnope = 1\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    text = str(info.value)
    assert "FACTORY_SERVE__ANONYMOUS (or serve.anonymous in" in text
    assert "FACTORY_SERVE__SESSION_MINUTES" in text and "FACTORY_EDGE__NOPE" in text


def test_a_hostile_plan_is_refused_clearly(tmp_path: Path) -> None:
    plant = load_plant(SMALL)
    path = tmp_path / "plan.csv"
    path.write_bytes(b"date,shift,line,planned_hours\n\xff\xfe,morning,x,1\n")
    with pytest.raises(PlanError, match="cannot be read"):
        load_plan(path, plant)
    path.write_text("date,shift,line,planned_hours\n2026-01-05,morning,../../etc/passwd,1\n")
    with pytest.raises(PlanError, match=re.escape("row 2: no line '../../etc/passwd'")):
        load_plan(path, plant)
    with pytest.raises(PlanError, match="not found"):
        load_plan(tmp_path / "none.csv", plant)
