"""The routing settings of one registry: its aliases and its ``[routing]`` configuration.

:class:`RoutingSettings` owns them. They come from three places, read lazily at the first
routing question that needs them: plugins (the ``register_aliases`` hook), the user's config
file (:mod:`provider_core.userconfig`; its alias replaces a plugin's of the same name), and
aliases added in Python (:meth:`RoutingSettings.add_alias`, which win over both). Problems
(a bad target, a bad setting) are kept for ``provider-core check`` and never stop the rest.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from .aliases import Alias, AliasProblem, parse_aliases
from .errors import summary
from .strategy import RoutingConfig

__all__ = ["RoutingSettings"]


class RoutingSettings:
    """Aliases and routing settings. ``hook`` is the ``register_aliases`` hook caller (or
    ``None``) and ``environ`` the environment that locates the config file; ``warn``
    records a plugin hook that raised."""

    def __init__(
        self,
        hook: Callable[[], Any],
        environ: Mapping[str, str] | None,
        warn: Callable[[str], None],
        *,
        read_config: bool = True,
    ) -> None:
        self._hook = hook
        self._environ = environ
        self._warn = warn
        self._read_config = read_config
        self._lock = threading.Lock()
        self._explicit: dict[str, Alias] = {}
        self._loaded: tuple[dict[str, Alias], RoutingConfig, list[tuple[str, str]]] | None = None

    def forget(self) -> None:
        """A plugin was added: its aliases are collected again at the next question."""
        self._loaded = None

    def _load(self) -> tuple[dict[str, Alias], RoutingConfig, list[tuple[str, str]]]:
        loaded = self._loaded
        if loaded is None:
            with self._lock:
                aliases, problems = self._plugin_aliases()
                routing = RoutingConfig()
                if self._read_config:
                    from .userconfig import load_user_config

                    user = load_user_config(self._environ)
                    aliases.update(user.aliases)  # the user's alias replaces a plugin's
                    routing = user.routing
                    problems += list(user.problems)
                aliases.update(self._explicit)
                loaded = self._loaded = (aliases, routing, problems)
        return loaded

    def _plugin_aliases(self) -> tuple[dict[str, Alias], list[tuple[str, str]]]:
        """Each ``register_aliases`` implementation, called with a ``register(alias,
        targets)`` that records its plugin as the source."""
        caller = self._hook()
        found: dict[str, Alias] = {}
        problems: list[tuple[str, str]] = []
        for impl in caller.get_hookimpls() if caller is not None else ():
            source = f"plugin {impl.plugin_name}"

            def register(alias: str, targets: Any, source: str = source) -> None:
                parsed, bad = parse_aliases({alias: targets}, source, where="register_aliases")
                found.update(parsed)
                problems.extend((f"{source}: {p.where}", p.message) for p in bad)

            try:
                impl.function(register=register)
            except Exception as exc:  # a broken plugin never breaks routing
                self._warn(f"register_aliases hook of {source} raised {summary(exc)}")
        return found, problems

    def add_alias(self, name: str, targets: str | list[str]) -> Alias:
        """Define alias ``name`` in this process (it wins over the config file's and
        plugins'); raises ``ValueError`` for a bad target."""
        parsed, problems = parse_aliases({name: targets}, "<explicit>")
        if problems:
            raise ValueError("; ".join(str(p) for p in problems))
        self._explicit.update(parsed)
        self._loaded = None
        return parsed[name]

    def aliases(self) -> Mapping[str, Alias]:
        return self._load()[0]

    def routing(self) -> RoutingConfig:
        return self._load()[1]

    def problems(self) -> list[tuple[str, str]]:
        """The settings' own problems: unreadable file, bad targets, bad settings."""
        return list(self._load()[2])


def format_problem(problem: AliasProblem | tuple[str, str]) -> str:
    return str(problem) if isinstance(problem, AliasProblem) else f"{problem[0]}: {problem[1]}"
