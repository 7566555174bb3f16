from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from factory_cli.main import main
from factory_cli.settings import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("FACTORY_"):
            monkeypatch.delenv(key)


def test_defaults() -> None:
    s = load_settings()
    assert str(s.mqtt_url) == "mqtt://127.0.0.1:1883"
    assert s.store_url.kind == "sqlite"
    assert "mqtt_url" not in s.model_fields_set


def test_environment_over_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "factory.toml"
    conf.write_text(
        'mqtt_url = "mqtt://file-host:1883"\nstore_url = "influxdb://db:8086/plant"\n'
        "[ingest]\nbatch_max_readings = 123\n"
    )
    monkeypatch.setenv("FACTORY_MQTT_URL", "mqtt://env-host:1884")
    monkeypatch.setenv("FACTORY_INGEST__BATCH_MAX_DELAY_S", "0.5")
    s = load_settings(conf)
    assert s.mqtt_url.host == "env-host"
    assert s.store_url.database == "plant"
    assert s.ingest.batch_max_readings == 123
    assert s.ingest.batch_max_delay_s == 0.5


def test_invalid_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTORY_MQTT_URL", "http://u:hunter2@broker:1883")
    monkeypatch.setenv("FACTORY_INGEST__BATCH_MAX_READINGS", "0")
    with pytest.raises(ConfigError) as info:
        load_settings()
    text = str(info.value)
    assert "FACTORY_MQTT_URL" in text and "must start with mqtt://" in text
    assert "FACTORY_INGEST__BATCH_MAX_READINGS" in text
    assert "hunter2" not in text


def test_unknown_key_in_file(tmp_path: Path) -> None:
    conf = tmp_path / "f.toml"
    conf.write_text('mqtt_ulr = "mqtt://h"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(conf)
    assert "FACTORY_MQTT_ULR" in str(info.value) and "unknown setting" in str(info.value)


def test_cli_stops_at_start_on_bad_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FACTORY_STORE_URL", "mysql://x")
    assert main(["report"]) == 2
    err = capsys.readouterr().err
    assert "FACTORY_STORE_URL" in err and "sqlite:///" in err


def test_missing_config_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", "/nonexistent.toml", "report"]) == 2
    assert "not found" in capsys.readouterr().err
