import os
from pathlib import Path

import pytest

from factory_cli.settings import Settings, load_settings

EXAMPLE = Path(__file__).parents[2] / "deploy" / "factory.example.toml"


def test_example_file_loads_and_matches_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("FACTORY_"):
            monkeypatch.delenv(key)
    assert load_settings(EXAMPLE).model_dump() == Settings().model_dump()


def test_example_file_documents_every_setting() -> None:
    text = EXAMPLE.read_text()
    doc = (EXAMPLE.parents[1] / "docs" / "configuration.md").read_text()
    for name, field in Settings.model_fields.items():
        sub = field.annotation
        if hasattr(sub, "model_fields"):
            assert f"[{name}]" in text, name
        else:
            assert f"{name} =" in text, name
            assert f"FACTORY_{name.upper()}" in doc, name
        for inner in getattr(sub, "model_fields", {}):
            assert f"{inner} =" in text, f"{name}.{inner}"
            assert f"FACTORY_{name.upper()}__{inner.upper()}" in doc, f"{name}.{inner}"


def test_device_examples_in_the_file_are_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in list(os.environ):
        if key.startswith("FACTORY_"):
            monkeypatch.delenv(key)
    text = EXAMPLE.read_text()
    head, rest = text.split("## Real devices", 1)
    devices, tail = rest.split("[ingest]", 1)
    lines = [
        line[2:] if line.startswith("# ") and not line.startswith("# #") else line
        for line in devices.splitlines()
    ]
    conf = tmp_path / "devices.toml"
    conf.write_text(head + "## Real devices" + "\n".join(lines) + "\n[ingest]" + tail)
    settings = load_settings(conf)
    meter, on_line, behind_gateway = settings.edge.meters
    (machine,) = settings.edge.machines
    assert meter.preset == "sdm630" and meter.register_map
    assert (meter.transport, on_line.transport, behind_gateway.transport) == (
        "tcp", "rtu", "rtu_over_tcp")  # fmt: skip
    assert on_line.bus == "serial /dev/ttyUSB0" and on_line.device_id == 2
    (press,) = settings.edge.modbus_machines
    (cnc,) = settings.edge.s7_machines
    assert press.reason_map["7"] == "jam" and press.sensors["temperature_c"].scale == 0.1
    assert cnc.total_count.where("s7") == "DB7.2 (int32)" and cnc.reason is not None
    assert machine.state_map["3"].value == "DOWN"
    assert machine.sensor_nodes == {"spindle_temp_c": "ns=2;s=Line1.M01.SpindleTemp"}


def test_the_sparkplug_example_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("FACTORY_"):
            monkeypatch.delenv(key)
    head, rest = EXAMPLE.read_text().split("[ingest.sparkplug]", 1)
    table, tail = rest.split("[analytics]", 1)
    lines = [
        line[2:] if line.startswith("# ") and not line.startswith("# #") else line
        for line in table.replace("groups = []", 'groups = ["plant1"]').splitlines()
    ]
    conf = tmp_path / "sparkplug.toml"
    conf.write_text(head + "[ingest.sparkplug]" + "\n".join(lines) + "\n[analytics]" + tail)
    (device,) = load_settings(conf).ingest.sparkplug.devices
    assert (device.node, device.machine, device.state_map["3"].value) == (
        "line1-gateway", "press01", "DOWN")  # fmt: skip
    assert device.metrics["total_count"] == "Counters/Produced"
