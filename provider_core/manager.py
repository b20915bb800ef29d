"""The registry's pluggy plugin manager, with a quicker look at module plugins.

pluggy finds a plugin's hook implementations by looking at every attribute of the plugin
(``dir(plugin)``) with :func:`inspect.getattr_static`, which is careful and slow: about
a tenth of a millisecond for a small plugin module, the largest part of what each installed
plugin adds to a start (bench/RESULTS.md, "start-up with 100 plugins"). For a module plugin
(what an entry point names) this manager looks in the module's ``__dict__`` first and asks
pluggy only about the attributes that can be hook implementations at all (functions,
bound methods, classmethods, staticmethods); what pluggy decides about those is unchanged.
Any other kind of plugin (an object, a class) goes to pluggy as it is.
"""

from __future__ import annotations

import types
from typing import Any

import pluggy

__all__ = ["PluginManager"]

_HOOKABLE = (types.FunctionType, types.MethodType, classmethod, staticmethod)


class PluginManager(pluggy.PluginManager):
    """:class:`pluggy.PluginManager`, skipping a module's attributes that cannot be hooks."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        if isinstance(plugin, types.ModuleType):
            value = plugin.__dict__.get(name)
            if not issubclass(type(value), _HOOKABLE):  # type(): no attribute of the value is read
                return None  # pluggy would find no hook here either: not a function, nor bound
        return super().parse_hookimpl_opts(plugin, name)
