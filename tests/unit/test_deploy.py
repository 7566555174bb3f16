"""The deployment files, checked without a Docker engine or systemd: every referenced file
exists (or is made by the documented generator), every variable is defined, every
setting and command is one the program accepts, and the ACL fits the gateways."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from factory_cli.acl import acl_text, generate
from factory_cli.main import build_parser
from factory_cli.settings import load_settings
from plant.model import load_plant
from telemetry.urls import parse_mqtt_url

DEPLOY = Path(__file__).parents[2] / "deploy"
GENERATED = {"mosquitto/certs": "make-certs.sh", "dashboard/certs": "make-certs.sh",
             "mosquitto/generated": "factory acl"}  # fmt: skip


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return data


def env_example() -> dict[str, str]:
    out = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out[key] = value
    return out


def test_compose_has_the_stack(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"mosquitto", "influxdb", "grafana", "ingest-1", "ingest-2", "aggregate",
            "serve"} <= set(services)  # fmt: skip
    demo = {k for k, v in services.items() if "demo" in v.get("profiles", [])}
    assert demo == {"edge-line1", "edge-line2", "edge-main"}
    mounts = services["mosquitto"]["volumes"]
    assert "./mosquitto/mosquitto-secure.conf:/mosquitto/config/mosquitto.conf:ro" in mounts
    init = services["influxdb"]["environment"]
    assert init["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert {"DOCKER_INFLUXDB_INIT_ORG", "DOCKER_INFLUXDB_INIT_BUCKET",
            "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"} <= set(init)  # fmt: skip


def test_every_mounted_file_exists_or_is_generated(compose: dict[str, Any], tmp_path: Path) -> None:
    sources = set()
    for service in compose["services"].values():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                sources.add(source[2:])
    assert sources
    made = set()
    for source in sorted(sources):
        generated = next((g for g in GENERATED if source.startswith(g)), None)
        if generated is None:
            assert (DEPLOY / source).exists(), f"{source} is mounted but missing"
        else:
            made.add(source)
    # The generated ones are exactly what the generators make.
    subprocess.run([str(DEPLOY / "mosquitto" / "make-certs.sh"), str(tmp_path / "certs"),
                    "mosquitto", "localhost"], check=True, capture_output=True)  # fmt: skip
    generate(load_plant(DEPLOY / "plants" / "small.toml"), tmp_path / "generated")
    for source in made:
        rest = source.split("/", 2)[2] if source.count("/") > 1 else ""
        folder = "certs" if source.split("/")[1] == "certs" else "generated"
        assert (tmp_path / folder / rest).exists(), source
    conf = (DEPLOY / "mosquitto" / "mosquitto-secure.conf").read_text()
    for path in re.findall(
        r"^(?:cafile|certfile|keyfile|password_file|acl_file) (\S+)", conf, re.M
    ):
        name = Path(path).name
        assert (tmp_path / "certs" / name).exists() or (tmp_path / "generated" / name).exists()


def test_every_variable_is_in_the_env_example(compose: dict[str, Any]) -> None:
    text = (DEPLOY / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{(\w+)\}", text))
    used |= set(re.findall(r"\$\{(\w+)\}", (DEPLOY / "grafana" / "provisioning" / "datasources"
                                             / "influxdb.yml").read_text()))  # fmt: skip
    assert used <= set(env_example()), used - set(env_example())


def _substitute(value: str) -> str:
    env = env_example()
    return re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], value)


def test_factory_services_use_real_settings_and_commands(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Files mounted into the containers, here at their sources.
    (tmp_path / "ca.crt").write_text("")
    mounted = {"/etc/factory/ca.crt": str(tmp_path / "ca.crt"),
               "/etc/factory/plants/": f"{DEPLOY / 'plants'}/"}  # fmt: skip
    parser = build_parser()
    factory = {
        k: v for k, v in compose["services"].items() if v.get("command", [""])[0] == "factory"
    }
    assert len(factory) == 7
    for name, service in factory.items():
        parser.parse_args(service["command"][1:])  # exits on an unknown option
        for key in list(os.environ):
            if key.startswith("FACTORY_"):
                monkeypatch.delenv(key)
        for key, value in service["environment"].items():
            if key.startswith("FACTORY_"):
                text = _substitute(str(value))
                for inside, here in mounted.items():
                    text = text.replace(inside, here)
                monkeypatch.setenv(key, text)
        settings = load_settings()  # raises, naming the variable, on a bad setting
        env = service["environment"]
        if "FACTORY_MQTT_URL" in env:
            assert settings.mqtt_url.tls, f"{name}: the secure broker takes TLS only"
        if "FACTORY_STORE_URL" in env:
            assert settings.store_url.kind == "influxdb2", name
    ingest = [compose["services"][f"ingest-{i}"]["environment"] for i in (1, 2)]
    assert ingest[0]["FACTORY_INGEST__CLIENT_ID"] != ingest[1]["FACTORY_INGEST__CLIENT_ID"]
    assert ingest[0]["FACTORY_INGEST__SHARE_GROUP"] == ingest[1]["FACTORY_INGEST__SHARE_GROUP"]


def test_each_demo_gateway_publishes_only_what_its_acl_allows(compose: dict[str, Any]) -> None:
    acl = acl_text(load_plant(DEPLOY / "plants" / "small.toml"))
    rules: dict[str, list[str]] = {}
    user = None
    for line in acl.splitlines():
        if line.startswith("user "):
            user = line.split()[1]
        elif line.startswith("topic ") and user:
            rules.setdefault(user, []).append(line)
    for name in ("edge-line1", "edge-line2"):
        service = compose["services"][name]
        url = parse_mqtt_url(_substitute(service["environment"]["FACTORY_MQTT_URL"]))
        assert url.tls and url.username in rules, name
        line = service["command"][service["command"].index("--line") + 1]
        assert rules[url.username] == [f"topic write factory/v1/{line}/#"]
    ingest_url = parse_mqtt_url(
        _substitute(compose["services"]["ingest-1"]["environment"]["FACTORY_MQTT_URL"])
    )
    assert rules[str(ingest_url.username)] == ["topic read factory/v1/#"]


def test_dockerfile_copies_what_exists_and_every_package() -> None:
    """The image installs the project from what it copies: every package pyproject.toml
    installs must be there (without store/ no command could run)."""
    import tomllib

    text = (DEPLOY / "Dockerfile").read_text()
    copied = set()
    for source in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for item in source.split():
            assert (DEPLOY.parent / item).exists(), item
            copied.add(item)
    project = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= copied, f"the image lacks {sorted(packages - copied)}"


@pytest.mark.parametrize(
    "unit",
    ["factory-edge", "factory-ingest", "factory-ingest@", "factory-aggregate", "factory-serve"],
)
def test_systemd_units_restart_and_are_sandboxed(unit: str) -> None:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string((DEPLOY / "systemd" / f"{unit}.service").read_text())
    service = cp["Service"]
    assert {"Unit", "Service", "Install"} <= set(cp.sections())
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == "/opt/factory/.venv/bin/factory"
    build_parser().parse_args(argv[1:])
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"].split() == ["2", "3"]
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes", "CapabilityBoundingSet": ""}.items():  # fmt: skip
        assert service[key] == value, key
    assert service["User"] == "factory"
    assert int(service["TimeoutStopSec"]) >= 30  # above every command's stop deadline
    if unit != "factory-aggregate":
        state = service["StateDirectory"]
        assert (
            state.startswith(unit.rstrip("@"))
            and f"/var/lib/{state}" in service["WorkingDirectory"]
        )
    if unit == "factory-edge":
        assert "/var/lib/factory-edge/" in service["Environment"]
    if unit == "factory-serve":  # on the network: TLS, and room for every browser's sockets
        env = unit_environment(unit, "")
        assert env["FACTORY_SERVE__TLS_CERT"] and env["FACTORY_SERVE__TLS_KEY"]
        assert env["FACTORY_SERVE__USERS_DB"].startswith("/var/lib/factory-serve/")
        assert int(service["LimitNOFILE"]) >= 65536


def unit_environment(unit: str, instance: str) -> dict[str, str]:
    """The ``Environment=`` lines of a unit (every one of them), ``%i`` expanded."""
    out = {}
    for line in (DEPLOY / "systemd" / f"{unit}.service").read_text().splitlines():
        if line.startswith("Environment="):
            key, value = line.removeprefix("Environment=").split("=", 1)
            out[key] = value.replace("%i", instance)
    return out


def test_template_instances_get_their_own_session_and_share_the_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = []
    for instance in ("1", "2", "b1"):
        for key in [k for k in os.environ if k.startswith("FACTORY_")]:
            monkeypatch.delenv(key)
        for key, value in unit_environment("factory-ingest@", instance).items():
            monkeypatch.setenv(key, value)
        settings.append(load_settings())
    ids = [s.ingest.client_id for s in settings]
    assert ids == ["factory-ingest-1", "factory-ingest-2", "factory-ingest-b1"]
    assert {s.ingest.share_group for s in settings} == {"ingest"}
