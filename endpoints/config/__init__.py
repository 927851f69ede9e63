"""Configuration: librechat.yaml + LibreChat's environment variables -> validated
specs (``load_config``) -> rows (``seed.apply``) -> yaml again (``export``)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from endpoints.config import environment, librechat
from endpoints.config.specs import ConfigSpec
from endpoints.config.yamlfile import ConfigError, Problem, load_file, load_text

__all__ = ["ConfigError", "ConfigSpec", "Problem", "config_path", "load_config", "parse_text"]


def config_path() -> Path:
    """CONFIG_PATH, else ./librechat.yaml, else the shipped fixtures/librechat.yaml."""
    if settings.CONFIG_PATH:
        return Path(settings.CONFIG_PATH)
    if Path(settings.DEFAULT_CONFIG_PATH).is_file():
        return Path(settings.DEFAULT_CONFIG_PATH)
    return Path(settings.SHIPPED_CONFIG_PATH)


def load_config(path: str | Path | None = None, env: dict[str, str | None] | None = None) -> ConfigSpec:
    """Read, validate and merge a librechat.yaml with the environment's endpoint variables."""
    data, where = load_file(str(path or config_path()))
    return environment.merge(librechat.parse(data, where), env if env is not None else _env())


def parse_text(text: str, env: dict[str, str | None] | None = None) -> ConfigSpec:
    data, where = load_text(text)
    return environment.merge(librechat.parse(data, where), env if env is not None else _env())


def _env() -> dict[str, str | None]:
    return dict(settings.LIBRECHAT_ENDPOINT_VARS)
