"""The registry's pluggy plugin manager: a quicker look at module plugins, and each plugin's
own hook implementations found without looking at every other plugin's.

pluggy finds a plugin's hook implementations by looking at every attribute of the plugin
(``dir(plugin)``) with :func:`inspect.getattr_static`, which is careful and slow: about
a tenth of a millisecond for a small plugin module, the largest part of what each installed
plugin adds to a start (bench/RESULTS.md, "start-up with 100 plugins"). For a module plugin
(what an entry point names) this manager looks in the module's ``__dict__`` first and asks
pluggy only about the attributes that can be hook implementations at all (functions,
bound methods, classmethods, staticmethods); what pluggy decides about those is unchanged.
Any other kind of plugin (an object, a class) goes to pluggy as it is.

pluggy answers "which hooks does this plugin implement" (``get_hookcallers``) by looking
through every implementation of every hook, so asking it once per plugin while loading
``N`` plugins is quadratic. This manager remembers, when a plugin registers, the names of
the hooks it implements (:meth:`PluginManager.hook_names`), and finds a plugin's
implementations of one hook from the end of that hook's list, where pluggy adds a plain
implementation (:meth:`PluginManager.plugin_hookimpls`).
"""

from __future__ import annotations

import types
from typing import Any

import pluggy

__all__ = ["PluginManager"]

_HOOKABLE = (types.FunctionType, types.MethodType, classmethod, staticmethod)


class PluginManager(pluggy.PluginManager):
    """:class:`pluggy.PluginManager`, skipping a module's attributes that cannot be hooks
    and keeping the names of the hooks each registered plugin implements."""

    def __init__(self, project_name: str) -> None:
        super().__init__(project_name)
        self._hooks_of: dict[str, tuple[str, ...]] = {}  # plugin name -> its hooks' names
        # id(plugin) -> (attribute, options) of each implementation found, while it registers
        # (keyed by plugin: registering in two threads at once, or one plugin's historic hook
        # registering another, keeps each plugin's own)
        self._parsing: dict[int, list[tuple[str, dict[str, Any]]]] = {}

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        if isinstance(plugin, types.ModuleType):
            value = plugin.__dict__.get(name)
            if not issubclass(type(value), _HOOKABLE):  # type(): no attribute of the value is read
                return None  # pluggy would find no hook here either: not a function, nor bound
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is not None:
            parsed = self._parsing.get(id(plugin))
            if parsed is not None:
                parsed.append((name, opts))  # pluggy fills in the options dict in place
        return opts

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        key = id(plugin)
        if key in self._parsing:  # registering already (in another thread): the first call keeps the record
            return super().register(plugin, name)
        parsed = self._parsing[key] = []
        try:
            plugin_name = super().register(plugin, name)
        finally:
            del self._parsing[key]
        if plugin_name is not None:  # None: a blocked name, nothing registered
            self._hooks_of[plugin_name] = tuple(opts.get("specname") or attr for attr, opts in parsed)
        return plugin_name

    def unregister(self, plugin: Any = None, name: str | None = None) -> Any:
        if name is None and plugin is not None:
            name = self.get_name(plugin)
        removed = super().unregister(plugin, name)
        if name is not None:
            self._hooks_of.pop(name, None)
        return removed

    def hook_names(self, plugin_name: str) -> tuple[str, ...]:
        """The names of the hooks the plugin registered as ``plugin_name`` implements, one per
        implementation (a hook named twice has two: pluggy's ``specname``), in the order
        pluggy found them; ``()`` for a plugin that implements none or is not registered."""
        return self._hooks_of.get(plugin_name, ())

    def plugin_hookimpls(self, plugin_name: str, hook_name: str) -> list[pluggy.HookImpl]:
        """The implementations of ``hook_name`` by the plugin registered as ``plugin_name``,
        in the order of ``hook.get_hookimpls()``; the same list as filtering that one by
        plugin, found by looking from its end and stopping at the last of them."""
        count = self.hook_names(plugin_name).count(hook_name)
        if not count:
            return []
        found = []
        for impl in reversed(getattr(self.hook, hook_name).get_hookimpls()):
            if impl.plugin_name == plugin_name:
                found.append(impl)
                if len(found) == count:
                    break
        found.reverse()
        return found
