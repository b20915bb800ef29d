"""The user's config file: the ``[aliases]`` and ``[routing]`` tables the core reads.

Where it is: ``$PROVIDER_CORE_CONFIG`` when set, else ``config.toml`` in the user
configuration directory (:func:`provider_core.userdirs.config_dir`; ``~/.config/provider-core``
on Linux). A missing file is an empty configuration. Other tables (``[openai]``, ...) belong
to plugins and are not looked at here. Every problem is reported as ``(where, message)``
with the file and key, and leaves the rest of the file in force.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from .aliases import Alias, parse_aliases
from .records import Record
from .strategy import RoutingConfig, parse_routing
from .tomlcache import read_tables
from .userdirs import config_dir

__all__ = ["ENV_CONFIG", "UserConfig", "config_path", "load_user_config"]

ENV_CONFIG = "PROVIDER_CORE_CONFIG"

#: The tables of the config file the core reads (the rest belongs to plugins).
TABLES = ("aliases", "routing")


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$PROVIDER_CORE_CONFIG``, else ``config.toml`` in the user configuration directory."""
    env = os.environ if environ is None else environ
    explicit = env.get(ENV_CONFIG, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    return Path(config_dir(env)) / "config.toml"


class UserConfig(Record):
    """What the core takes from the config file at ``path``."""

    _fields = ("path", "aliases", "routing", "problems")
    __slots__ = _fields
    _defaults: ClassVar = {"path": None, "aliases": {}, "routing": RoutingConfig(), "problems": ()}
    path: Path | None
    aliases: Mapping[str, Alias]
    routing: RoutingConfig
    problems: tuple[tuple[str, str], ...]


def load_user_config(environ: Mapping[str, str] | None = None) -> UserConfig:
    """The aliases and routing settings of the config file (an empty :class:`UserConfig`
    when there is none). Never raises: an unreadable file or a TOML error is a problem."""
    path = config_path(environ)
    try:
        data = read_tables(str(path), TABLES)  # parsed TOML, cached while the file is unchanged
    except FileNotFoundError:
        return UserConfig(path)
    except (OSError, ValueError, ImportError) as exc:  # ValueError: tomllib.TOMLDecodeError, with line and column
        return UserConfig(path, problems=((str(path), f"cannot be read: {exc}"),))
    source = str(path)
    aliases: dict[str, Alias] = {}
    problems: list[tuple[str, str]] = []
    if data["aliases"] is not None:
        aliases, found = parse_aliases(data["aliases"], source)
        problems += [(f"{source}: {p.where}", p.message) for p in found]
    routing, bad = parse_routing(data.get("routing"))
    problems += [(f"{source}: {key}", message) for key, message in bad]
    return UserConfig(path, aliases, routing, tuple(problems))
