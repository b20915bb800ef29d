"""Loading plugins into a registry: its pluggy plugin manager, the built-in plugins and the
installed entry points.

:class:`PluginLoader` is the part of :class:`~provider_core.registry.Registry` that fills it;
the registry inherits it, so every method here runs on the registry's own state (the
attributes annotated on the class, set by ``Registry.__init__``) and calls back into the
registry for ``_register``, ``_warn``, ``_invalidate`` and ``_forget_hook_callers``.

Loading happens once, lazily, at the first query, under the registry's lock: the built-in
plugins first, then the entry points in :func:`~provider_core.plugins.discover` order. A
plugin that cannot be imported, fails pluggy's hook validation or whose
``register_providers`` hook raises is recorded on its :class:`PluginInfo` and never stops
the others, a ``KeyboardInterrupt`` it raises itself included; only the user's Ctrl-C gets
through (:class:`~provider_core.isolation.InterruptWatch`). A plugin that takes long to
load is named in a warning while it is still loading (:class:`~provider_core.isolation.SlowWatch`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import __version__
from .errors import ProviderContractError
from .isolation import InterruptWatch, SlowWatch, slow_seconds
from .plugins import PluginInfo, discover, unknown_allowed

if TYPE_CHECKING:
    from .registry import Registry

__all__ = ["PluginLoader", "describe_exception"]


def describe_exception(exc: BaseException) -> str:
    """``"Type: first line of the message"`` (just ``"Type"`` for an empty message): how a
    broken plugin or hook is named in :class:`PluginInfo` errors and registry warnings."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class PluginLoader:
    """The plugin manager of a registry and the loading of its plugins (a base of ``Registry``)."""

    _load_entry_points: bool
    _builtins: bool
    _environ: Mapping[str, str] | None
    _lock: threading.RLock
    _loaded: bool
    _loading: bool
    _pm: Any
    _providers: dict[str, type]
    _plugins: dict[str, PluginInfo]

    @property
    def plugin_manager(self) -> Any:
        """The :class:`pluggy.PluginManager` of this registry (created on first use)."""
        if self._pm is None:
            with self._lock:
                if self._pm is None:
                    import pluggy

                    from . import hookspecs

                    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
                    pm.add_hookspecs(hookspecs)
                    self._pm = pm
        return self._pm

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._lock:  # other threads wait here until loading is complete
            if self._loaded or self._loading:
                return  # loaded, or a plugin of this very thread querying the registry while it loads
            self._loading = True
            try:
                if self._builtins:
                    self._add_builtins()
                if self._load_entry_points:
                    self._load_all_entry_points()
            finally:
                self._loaded = True
                self._loading = False

    def load(self) -> Registry:
        """Load the entry points now (otherwise done at the first query)."""
        self._ensure_loaded()
        return self  # type: ignore[return-value]  # always a Registry

    def _load_all_entry_points(self) -> None:
        try:
            sources = discover(self._environ)
        except Exception as exc:  # a corrupt installed distribution must not break the CLI
            self._warn(f"entry-point discovery failed: {describe_exception(exc)}")
            return
        typo = unknown_allowed(sources, self._environ)
        if typo:
            self._warn(typo)
        env = os.environ if self._environ is None else self._environ
        with InterruptWatch() as interrupts, SlowWatch(slow_seconds(env), self._slow_plugin) as slow:
            for source in sources:
                key = source.name if source.name not in self._plugins else f"{source.name}@{source.distribution}"
                info = PluginInfo(key, source.distribution, source.version, source.value)
                self._plugins[key] = info
                if source.skip_reason:
                    info.status = "disabled"
                    info.warnings.append(source.skip_reason)
                    continue
                slow.loading(key)
                try:
                    obj = source.load()
                except BaseException as exc:
                    if interrupts.by_user(exc):
                        raise
                    info.status = "failed"
                    info.errors.append(f"import failed: {describe_exception(exc)}")
                    continue
                self._add_plugin(obj, info, interrupts)
            slow.loading(None)

    def _slow_plugin(self, name: str, seconds: float) -> None:
        """Say which plugin keeps every command waiting (from the :class:`SlowWatch` thread)."""
        self._warn(
            f"plugin {name!r} is taking more than {seconds:g} s to load; still waiting "
            f"(PROVIDER_CORE_DISABLE_PLUGINS={name.split('@', 1)[0]} skips it)"
        )

    def _add_builtins(self) -> None:
        """Register the core's own plugins, listed by ``plugins()`` with status ``"builtin"``
        (``PROVIDER_CORE_BREAKER=off`` removes the breaker). One that cannot be set up is a
        registry warning, not a failed plugin: the core stays usable without it."""
        try:
            from .health.plugin import builtin_plugins

            for name, plugin in builtin_plugins(self, self._environ):
                self.plugin_manager.register(plugin, name=name)
                kind = type(plugin)
                self._plugins.setdefault(
                    name,
                    PluginInfo(name, "provider-core", __version__, f"{kind.__module__}:{kind.__qualname__}", "builtin"),
                )
        except Exception as exc:  # a bad setting must not break the CLI
            self._warn(f"built-in plugins failed: {describe_exception(exc)}")
        self._forget_hook_callers()

    def add_plugin(self, plugin: object, name: str | None = None, *, builtin: bool = False) -> PluginInfo:
        """Register an in-process plugin (a module or object with hook implementations)
        and run its ``register_providers`` hook now. Returns its record."""
        with self._lock:
            key = name or getattr(plugin, "__name__", None) or f"plugin-{id(plugin):x}"
            info = PluginInfo(key, status="builtin" if builtin else "explicit")
            self._plugins[key] = info
            self._add_plugin(plugin, info)
            return info

    def _add_plugin(self, obj: object, info: PluginInfo, interrupts: InterruptWatch | None = None) -> None:
        pm = self.plugin_manager
        try:
            pm.register(obj, name=info.name)
        except Exception as exc:
            info.status = "failed"
            info.errors.append(f"hook validation failed: {describe_exception(exc)}")
            return
        impls = [impl for impl in pm.hook.register_providers.get_hookimpls() if impl.plugin is obj]
        if not pm.get_hookcallers(obj):  # this plugin implements no hook at all
            info.warnings.append("no provider_core hook implementations found")
        self._forget_hook_callers()
        self._invalidate()
        for impl in impls:

            def register(cls: type, *, _info: PluginInfo = info) -> type:
                try:
                    self._register(cls, _info.name, replace=False)
                except ProviderContractError as exc:
                    _info.errors.append(str(exc))
                else:
                    if cls.name not in _info.providers and self._providers.get(cls.name.lower()) is cls:
                        _info.providers.append(cls.name)
                return cls

            try:
                kwargs = {arg: register for arg in impl.argnames if arg == "register"}
                impl.function(**kwargs)
            except BaseException as exc:
                if (interrupts or InterruptWatch()).by_user(exc):
                    raise
                info.status = "failed"
                info.errors.append(f"register_providers raised {describe_exception(exc)}")

    if TYPE_CHECKING:  # provided by the registry

        def _register(self, cls: type, origin: str, *, replace: bool) -> None: ...

        def _warn(self, text: str, category: type[Warning] = RuntimeWarning) -> None: ...

        def _invalidate(self) -> None: ...

        def _forget_hook_callers(self) -> None: ...
