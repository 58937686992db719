"""Loads and validates the whole configuration, once, at start-up.

Sources, later ones winning:

1. the YAML file, with ``${VAR}`` and ``${VAR:-default}`` interpolated from the environment;
2. ``SLUICE__SECTION__KEY=value`` environment variables. Variables without a double
   underscore after ``SLUICE`` (Kubernetes service links such as ``SLUICE_PORT``) are ignored.

An unknown key or a bad value raises ``ConfigError`` with a message naming the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from sluice.core.config.auth import AuthConfig
from sluice.core.config.base import ConfigError, describe
from sluice.core.config.checks import ChecksConfig, TransformsConfig
from sluice.core.config.http import HttpConfig
from sluice.core.config.kafka import KafkaConfig
from sluice.core.config.ops import LoggingConfig, OpsConfig
from sluice.core.config.query import QueryConfig
from sluice.core.config.ratelimit import RateLimitConfig
from sluice.core.config.rollup import RollupConfig
from sluice.core.config.server import ServerConfig
from sluice.core.config.spool import SpoolConfig
from sluice.core.netutil import is_loopback, split_host_port
from sluice_client.interpolation import InterpolationError, interpolate

ENV_PREFIX = "SLUICE__"


class Settings(BaseSettings):
    """The whole configuration of a Sluice server process."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        case_sensitive=False,
    )

    server: ServerConfig = ServerConfig()
    ops: OpsConfig = OpsConfig()
    http: HttpConfig = HttpConfig()
    auth: AuthConfig = AuthConfig()
    checks: ChecksConfig = ChecksConfig()
    transforms: TransformsConfig = TransformsConfig()
    ratelimit: RateLimitConfig = RateLimitConfig()
    kafka: KafkaConfig = KafkaConfig()
    spool: SpoolConfig = SpoolConfig()
    logging: LoggingConfig = LoggingConfig()
    rollup: RollupConfig = RollupConfig()
    query: QueryConfig = QueryConfig()

    @model_validator(mode="after")
    def _auth_none_only_on_loopback(self) -> Settings:
        if self.auth.mode == "none" and not is_loopback(split_host_port(self.server.listen)[0]):
            raise ValueError(
                f"auth.mode: none is only allowed on a loopback listener, "
                f"not server.listen={self.server.listen!r}"
            )
        http = self.http
        if (
            self.auth.mode == "none"
            and http.enabled
            and not is_loopback(split_host_port(http.listen)[0])
        ):
            raise ValueError(
                f"auth.mode: none is only allowed on a loopback listener, "
                f"not http.listen={http.listen!r}"
            )
        if self.auth.mode == "none" and not is_loopback(split_host_port(self.query.listen)[0]):
            raise ValueError(
                f"auth.mode: none is only allowed on a loopback listener, "
                f"not query.listen={self.query.listen!r}"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment overrides win over the file, which arrives as init arguments.
        return (env_settings, init_settings)


def read_file(path: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    """Read a YAML config file and interpolate the environment into it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not UTF-8 text: {exc.reason} at byte {exc.start}"
        ) from None
    try:
        data = yaml.safe_load(interpolate(text, environ))
    except InterpolationError as exc:
        raise ConfigError(str(exc)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections, not {type(data).__name__}")
    return data


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Load, interpolate, override and validate the configuration, against ``environ`` (by
    default the process's own environment)."""
    env = dict(os.environ if environ is None else environ)
    data = read_file(path, env) if path is not None else {}
    if environ is None:
        # The process's own environment is left alone: a worker reloads its config on
        # SIGHUP while grpc's and librdkafka's threads may read the environment.
        return _validated(data)
    saved = dict(os.environ)
    try:
        # pydantic-settings reads os.environ; give it exactly the environment we were handed.
        os.environ.clear()
        os.environ.update(env)
        return _validated(data)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _validated(data: dict[str, Any]) -> Settings:
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(describe(exc)) from None
