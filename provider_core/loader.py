"""Loading plugins into a plugin manager: the built-in ones and the installed entry points.

A :class:`PluginLoader` belongs to one registry. It owns the :class:`PluginInfo` record of
every plugin it saw, registers each plugin's hooks with the registry's pluggy manager and
runs its ``register_providers`` hook, handing each class to the registry's ``accept``
callback (which checks the class against the contract and files it by name).

A plugin that cannot be imported, fails pluggy's hook validation or whose
``register_providers`` hook raises is recorded on its :class:`PluginInfo` (status
``"failed"``) and never stops the others, a ``KeyboardInterrupt`` it raises itself
included; only the user's Ctrl-C gets through
(:class:`~provider_core.isolation.InterruptWatch`). What the hook reports through its
``warn`` argument is recorded as a warning, the plugin staying ``"loaded"``. A plugin that
takes long to load is named in a warning while it is still loading
(:class:`~provider_core.isolation.SlowWatch`). The hook of a loaded plugin can be run again
(:meth:`PluginLoader.rerun`: the model catalog does after a refresh).
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .errors import ProviderContractError, summary
from .isolation import InterruptWatch, SlowWatch, slow_seconds
from .modelcache import ModelEntry, Recording
from .plugins import PluginInfo, discover, unknown_allowed
from .secrets import redact_secrets
from .version import __version__

if TYPE_CHECKING:
    from .manager import PluginManager

__all__ = ["Accept", "PluginLoader", "collection_paused"]

#: ``accept(cls, info)`` files a class a plugin registered; raises
#: :class:`~provider_core.errors.ProviderContractError` for one that breaks the contract.
Accept = Callable[[type, PluginInfo], None]


@contextmanager
def collection_paused() -> Iterator[None]:
    """No garbage collection inside (and as before after). Loading plugins imports modules
    and registers classes: objects that live as long as the registry, so collecting
    meanwhile is wasted work (a dozen young-generation collections, about 2 ms of a CLI
    start: bench/RESULTS.md, "CLI cold start")."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


class PluginLoader:
    """The plugins of one registry: loads them into ``plugin_manager`` and keeps their
    records. ``warn(text)`` records a problem that is not a plugin's failure."""

    def __init__(
        self,
        plugin_manager: PluginManager,
        accept: Accept,
        warn: Callable[[str], None],
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._pm = plugin_manager
        self._accept = accept
        self._warn = warn
        self._environ = environ
        self._plugins: dict[str, PluginInfo] = {}
        self._status: dict[str, str] = {}  # each plugin's status before its hook ran
        #: the model-cache entries the plugins' hooks read, by key, as of their latest run
        self.models_seen: dict[str, ModelEntry | None] = {}

    def plugins(self) -> list[PluginInfo]:
        """Every plugin seen, in load order."""
        return list(self._plugins.values())

    def info(self, name: str) -> PluginInfo | None:
        """The record of the plugin ``name`` (an entry-point name, ``"<explicit>"``...)."""
        return self._plugins.get(name)

    def add_builtins(self, plugins: Iterable[tuple[str, object]]) -> None:
        """Register the core's own plugins (status ``"builtin"``)."""
        for name, plugin in plugins:
            kind = type(plugin)
            info = PluginInfo(name, "provider-core", __version__, f"{kind.__module__}:{kind.__qualname__}", "builtin")
            self._plugins.setdefault(name, info)
            self._pm.register(plugin, name=name)

    def add(self, plugin: object, name: str | None = None, *, builtin: bool = False) -> PluginInfo:
        """Register an in-process plugin (a module or object with hook implementations) and
        run its ``register_providers`` hook now."""
        key = name or getattr(plugin, "__name__", None) or f"plugin-{id(plugin):x}"
        info = PluginInfo(key, status="builtin" if builtin else "explicit")
        self._plugins[key] = info
        self._run(plugin, info)
        return info

    def load_entry_points(self) -> None:
        """Load every installed entry point of the group ``provider_core``, in
        :func:`~provider_core.plugins.discover` order, isolating each failure."""
        try:
            sources = discover(self._environ)
        except Exception as exc:  # a corrupt installed distribution must not break the CLI
            self._warn(f"entry-point discovery failed: {summary(exc)}")
            return
        typo = unknown_allowed(sources, self._environ)
        if typo:
            self._warn(typo)
        env = os.environ if self._environ is None else self._environ
        self._load_sources(sources, env)

    def _load_sources(self, sources: list[Any], env: Mapping[str, str]) -> None:
        with InterruptWatch() as interrupts, SlowWatch(slow_seconds(env), self._slow) as slow:
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
                    plugin = source.load()
                except BaseException as exc:
                    if interrupts.by_user(exc):
                        raise
                    info.status = "failed"
                    info.errors.append(f"import failed: {summary(exc)}")
                    continue
                self._run(plugin, info, interrupts)
            slow.loading(None)

    def _slow(self, name: str, seconds: float) -> None:
        """Say which plugin keeps every command waiting (from the :class:`SlowWatch` thread)."""
        self._warn(
            f"plugin {name!r} is taking more than {seconds:g} s to load; still waiting "
            f"(PROVIDER_CORE_DISABLE_PLUGINS={name.split('@', 1)[0]} skips it)"
        )

    def _run(self, plugin: object, info: PluginInfo, interrupts: InterruptWatch | None = None) -> None:
        """Register ``plugin``'s hooks and run its ``register_providers`` hook."""
        try:
            self._pm.register(plugin, name=info.name)
        except Exception as exc:
            info.status = "failed"
            info.errors.append(f"hook validation failed: {summary(exc)}")
            return
        self._status[info.name] = info.status
        if not self._pm.hook_names(info.name):  # this plugin implements no hook at all
            info.warnings.append("no provider_core hook implementations found")
        self._register_providers(info, self._accept, interrupts)

    def rerun(self, name: str, accept: Accept) -> bool:
        """Run the ``register_providers`` hook of the plugin ``name`` again, handing its
        classes to ``accept``; its record's providers, errors and warnings start afresh.
        False (and nothing runs) unless the plugin's hooks are registered."""
        info, plugin = self._plugins.get(name), self._pm.get_plugin(name)
        if info is None or plugin is None or name not in self._status:
            return False
        info.status = self._status[name]
        info.providers.clear()
        info.errors.clear()
        info.warnings.clear()
        if not self._pm.hook_names(name):
            info.warnings.append("no provider_core hook implementations found")
        self._register_providers(info, accept)
        return True

    def _register_providers(self, info: PluginInfo, accept: Accept, interrupts: InterruptWatch | None = None) -> None:
        for impl in self._pm.plugin_hookimpls(info.name, "register_providers"):

            def register(cls: type, *, _info: PluginInfo = info) -> type:
                try:
                    accept(cls, _info)
                except ProviderContractError as exc:
                    _info.errors.append(str(exc))
                return cls

            def warn(text: object, *, _info: PluginInfo = info) -> None:
                line = redact_secrets(" ".join(str(text).split()))
                if line and line not in _info.warnings:
                    _info.warnings.append(line)

            given = {"register": register, "warn": warn}
            try:
                with Recording(self.models_seen):
                    impl.function(**{arg: given[arg] for arg in impl.argnames if arg in given})
            except BaseException as exc:
                if (interrupts or InterruptWatch()).by_user(exc):
                    raise
                info.status = "failed"
                info.errors.append(f"register_providers raised {summary(exc)}")
