"""Where provider-core keeps per-user files: the cache and the configuration directory.

The rules are the platform conventions (the ones the platformdirs package follows, which
the core does not depend on), computed with :mod:`os.path` only, so that finding a file
costs no import:

============  ======================================================  ==================================================
platform      cache directory                                         configuration directory
============  ======================================================  ==================================================
Linux, BSD    ``$XDG_CACHE_HOME/provider-core``, else                 ``$XDG_CONFIG_HOME/provider-core``, else
              ``~/.cache/provider-core``                              ``~/.config/provider-core``
macOS         ``~/Library/Caches/provider-core``                      ``~/Library/Application Support/provider-core``
Windows       ``%LOCALAPPDATA%\\provider-core\\Cache``                ``%LOCALAPPDATA%\\provider-core``
============  ======================================================  ==================================================

``PROVIDER_CORE_CACHE_DIR`` replaces the cache directory on every platform (a read-only
home, a container, a test). The directories are created by whoever first writes in them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

__all__ = ["APP_NAME", "ENV_CACHE_DIR", "cache_dir", "cache_file", "config_dir"]

APP_NAME = "provider-core"
ENV_CACHE_DIR = "PROVIDER_CORE_CACHE_DIR"


def _home(*parts: str) -> str:
    return os.path.join(os.path.expanduser("~"), *parts)


def _xdg(env: Mapping[str, str], variable: str, default: str) -> str:
    value = env.get(variable, "").strip()
    return os.path.join(os.path.expanduser(value) if value else _home(default), APP_NAME)


def _local_app_data(env: Mapping[str, str]) -> str:
    return env.get("LOCALAPPDATA", "").strip() or _home("AppData", "Local")


def cache_dir(environ: Mapping[str, str] | None = None, platform: str | None = None) -> str:
    """The user cache directory of provider-core (see the module docstring)."""
    env = os.environ if environ is None else environ
    explicit = env.get(ENV_CACHE_DIR, "").strip()
    if explicit:
        return os.path.expanduser(explicit)
    platform = sys.platform if platform is None else platform
    if platform == "win32":
        return os.path.join(_local_app_data(env), APP_NAME, "Cache")
    if platform == "darwin":
        return _home("Library", "Caches", APP_NAME)
    return _xdg(env, "XDG_CACHE_HOME", ".cache")


def cache_file(stem: str, key: str, environ: Mapping[str, str] | None = None) -> str:
    """The path of ``<stem>-XXXXXXXX.json`` in the user cache directory, ``XXXXXXXX`` a digest
    of ``key`` that is the same in every process (``hash()`` is not): one file per key, for
    a cache of what ``key`` names (a ``sys.path``, a user directory and interpreter...).

    The digest is 32 bits (FNV-1a), a name and not a secret: a cache file must also hold
    its key and be checked against it when read, so that two keys with one name only cost
    a miss. Computing it imports nothing (no ``zlib`` or ``hashlib`` load at start-up)."""
    value = 0x811C9DC5
    for byte in key.encode("utf-8", "surrogatepass"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return os.path.join(cache_dir(environ), f"{stem}-{value:08x}.json")


def config_dir(environ: Mapping[str, str] | None = None, platform: str | None = None) -> str:
    """The user configuration directory of provider-core (see the module docstring)."""
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if platform == "win32":
        return os.path.join(_local_app_data(env), APP_NAME)
    if platform == "darwin":
        return _home("Library", "Application Support", APP_NAME)
    return _xdg(env, "XDG_CONFIG_HOME", ".config")
