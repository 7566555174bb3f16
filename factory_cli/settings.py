"""Configuration, declared once: environment (``FACTORY_*``) over a TOML file over defaults.

Nested sections use ``__`` in variable names: ``FACTORY_INGEST__BATCH_MAX_READINGS``
sets ``batch_max_readings`` of the ``[ingest]`` table. The file is
``$FACTORY_CONFIG`` or ``--config PATH``; ``deploy/factory.example.toml``
documents every key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from alerting.config import AlertsConfig
from analytics.config import AnalyticsConfig, ForecastConfig
from core.errors import ConfigError
from dashboard.config import ServeConfig
from edge_agent.config import EdgeConfig
from ingest.config import IngestConfig
from plant.model import read_toml
from store import StoreUrl
from telemetry.topic import DEFAULT_ROOT, TopicError, check_root
from telemetry.urls import MqttUrl

ENV_PREFIX = "FACTORY_"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    # NoDecode: the value is a URL string, not JSON, although the field is a dataclass.
    mqtt_url: Annotated[MqttUrl, NoDecode] = Field(
        default="mqtt://127.0.0.1:1883",  # type: ignore[assignment]
        description="Broker: mqtt://[user:pass@]host:port, mqtts:// for TLS",
    )
    store_url: Annotated[StoreUrl, NoDecode] = Field(
        default="sqlite:///factory-data/telemetry.db",  # type: ignore[assignment]
        description=(
            "sqlite:///path.db, influxdb://[user:pass@]host:port/database (v1 API) or "
            "influxdb2://host:port/bucket?org=ORG (v2 API)"
        ),
    )
    influx_token: SecretStr | None = Field(
        default=None, description="API token for influxdb2:// stores (InfluxDB 2.x, 3.x, Cloud)"
    )
    topic_root: str = Field(default=DEFAULT_ROOT, description="First topic level(s)")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "WARNING"
    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one JSON object per line, for log collectors"
    )
    plant: str | None = Field(
        default=None, description="Plant model file (TOML): calendar, machines, main meters"
    )
    lang: Literal["en", "vi"] = Field(
        default="en",
        description="Language of reports and notifications, and of the dashboard for "
        "browsers that ask for neither: en (English) or vi (Vietnamese)",
    )
    edge: EdgeConfig = EdgeConfig()
    ingest: IngestConfig = IngestConfig()
    analytics: AnalyticsConfig = AnalyticsConfig()
    forecast: ForecastConfig = ForecastConfig()
    serve: ServeConfig = ServeConfig()
    alerts: AlertsConfig = AlertsConfig()

    @field_validator("topic_root")
    @classmethod
    def _root(cls, value: str) -> str:
        try:
            return check_root(value)
        except TopicError as exc:
            raise ValueError(str(exc)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file, when there is one, is named by model_config["toml_file"]
        # (see load_settings); without one this source reads nothing.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def _variable(loc: tuple[Any, ...]) -> str:
    return ENV_PREFIX + "__".join(str(p).upper() for p in loc)


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Load and validate; raise :class:`ConfigError` that names each bad setting."""
    raw = config_file if config_file is not None else os.environ.get(ENV_PREFIX + "CONFIG")
    path = Path(raw) if raw else None
    if path is not None and not path.is_file():
        raise ConfigError(
            f"configuration file {path} not found (from --config or {ENV_PREFIX}CONFIG)"
        )
    cls = Settings
    if path is not None:
        try:
            read_toml(path, "configuration file")  # size, encoding, syntax, nesting first
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

        class FromFile(Settings):
            model_config = SettingsConfigDict(toml_file=path)

        cls = FromFile
    try:
        return cls(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            where = _variable(loc)
            if path is not None:
                where += f" (or {'.'.join(str(p) for p in loc)} in {path})"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown setting; see deploy/factory.example.toml for the valid keys"
            lines.append(f"  {where}: {msg}")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from None
    except Exception as exc:  # a TOML syntax error surfaces here
        if path is not None and "toml" in type(exc).__module__.lower():
            raise ConfigError(f"cannot parse {path}: {exc}") from None
        raise
