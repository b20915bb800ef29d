"""Where the plugin reads its configuration.

Kept apart from :mod:`provider_openai.config` so that deciding whether there is anything to
load costs no import: with no file and no environment variables the plugin stays out of the
way of every command's start-up time. The directory follows the platform's conventions
(:func:`provider_core.userdirs.config_dir`: ``~/.config/provider-core`` on Linux). The model
lists fetched from endpoints live in the core's model catalog cache
(:mod:`provider_core.modelcache`), not here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from provider_core.userdirs import config_dir

__all__ = ["ENV_API_KEY", "ENV_BASE_URL", "ENV_CONFIG", "config_path", "has_configuration"]

ENV_CONFIG = "PROVIDER_CORE_CONFIG"
ENV_API_KEY = "OPENAI_API_KEY"
ENV_BASE_URL = "OPENAI_BASE_URL"


def config_path(environ: Mapping[str, str] | None = None) -> str:
    """``$PROVIDER_CORE_CONFIG``, else ``config.toml`` in the user configuration directory
    for ``provider-core`` (``~/.config/provider-core/config.toml`` on Linux)."""
    env = os.environ if environ is None else environ
    explicit = env.get(ENV_CONFIG)
    if explicit:
        return os.path.expanduser(explicit)
    return os.path.join(config_dir(), "config.toml")


def has_configuration(environ: Mapping[str, str] | None = None) -> bool:
    """Whether there is anything to load: a config file (or ``$PROVIDER_CORE_CONFIG``), or
    one of the zero-config variables."""
    env = os.environ if environ is None else environ
    if env.get(ENV_CONFIG) or env.get(ENV_API_KEY) or env.get(ENV_BASE_URL):
        return True
    return os.path.exists(config_path(env))
