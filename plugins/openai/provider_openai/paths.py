"""Where the plugin reads its configuration and keeps its model-list cache.

Kept apart from :mod:`provider_openai.config` so that deciding whether there is anything to
load costs no pydantic import: with no file and no environment variables the plugin stays
out of the way of every command's start-up time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["ENV_API_KEY", "ENV_BASE_URL", "ENV_CONFIG", "cache_path", "config_path", "has_configuration"]

ENV_CONFIG = "PROVIDER_CORE_CONFIG"
ENV_API_KEY = "OPENAI_API_KEY"
ENV_BASE_URL = "OPENAI_BASE_URL"
APP_NAME = "provider-core"


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$PROVIDER_CORE_CONFIG``, else ``config.toml`` in the user configuration directory
    for ``provider-core`` (``~/.config/provider-core/config.toml`` on Linux)."""
    env = os.environ if environ is None else environ
    explicit = env.get(ENV_CONFIG)
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


def cache_path() -> Path:
    """The model-list cache: ``openai-models.json`` in the user cache directory for
    ``provider-core`` (``~/.cache/provider-core/`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)) / "openai-models.json"


def has_configuration(environ: Mapping[str, str] | None = None) -> bool:
    """Whether there is anything to load: a config file (or ``$PROVIDER_CORE_CONFIG``), or
    one of the zero-config variables."""
    env = os.environ if environ is None else environ
    if env.get(ENV_CONFIG) or env.get(ENV_API_KEY) or env.get(ENV_BASE_URL):
        return True
    return config_path(env).exists()
