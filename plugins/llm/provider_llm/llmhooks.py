"""Calling one llm plugin's ``register_models`` hook at a time (imports llm).

llm itself loads every plugin at once and calls their hooks together, so one plugin that
fails to import or whose hook raises fails every command. The bridge keeps a pluggy
manager of its own for llm's hook specifications, registers the plugins in it one by one
and calls each plugin's ``register_models`` separately: a failure belongs to that plugin
alone. llm's own plugin manager (and so the behaviour of llm for any other code in the
process) is left untouched.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .discovery import DEFAULT_MODULE, DEFAULT_PLUGIN, llm_plugins

__all__ = ["Registered", "load_plugin", "registered_models"]

_manager: Any = None
_lock = threading.Lock()


@dataclass
class Registered:
    """What one ``register(model, async_model=None, aliases=None)`` call of a plugin gave."""

    model: Any
    async_model: Any
    aliases: list[str]

    @property
    def primary(self) -> Any:
        """The sync model, else the async one (a plugin may register an async model alone)."""
        return self.model if self.model is not None else self.async_model


def _hook_manager() -> Any:
    global _manager
    with _lock:
        if _manager is None:
            import pluggy
            from llm import hookspecs

            manager = pluggy.PluginManager("llm")
            manager.add_hookspecs(hookspecs)
            _manager = manager
        return _manager


def load_plugin(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """Import the llm plugin ``name`` (an entry-point name, or ``"default"`` for llm's
    built-in models) and return its module; raises whatever its import raises, or
    ``LookupError`` when no such plugin is installed."""
    if name == DEFAULT_PLUGIN:
        return importlib.import_module(DEFAULT_MODULE)
    for plugin in llm_plugins(environ):
        if plugin.name == name:
            return plugin.load()
    raise LookupError(f"no llm plugin named {name!r} is installed")


def registered_models(plugin: Any, name: str) -> list[Registered]:
    """Call ``plugin``'s ``register_models`` hook (registering the plugin under ``name`` in
    the bridge's own manager first, which checks its hooks against llm's specifications)
    and return what it registered, in order. Raises whatever the plugin raises."""
    from llm.models import ModelWithAliases

    manager = _hook_manager()
    with _lock:
        if manager.get_plugin(name) is None:
            manager.register(plugin, name=name)
    found: list[Registered] = []
    so_far: list[Any] = []  # llm hands each hook the models registered before it

    def register(model: Any, async_model: Any = None, aliases: Any = None) -> None:
        item = Registered(model, async_model, [str(a) for a in aliases or ()])
        found.append(item)
        so_far.append(ModelWithAliases(model, async_model, list(item.aliases)))

    arguments = {"register": register, "model_aliases": so_far}
    for impl in manager.hook.register_models.get_hookimpls():
        if impl.plugin is plugin:
            impl.function(**{arg: arguments[arg] for arg in impl.argnames if arg in arguments})
    return found
