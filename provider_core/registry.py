"""The catalog: which providers are installed, which work, which serve a model.

A :class:`Registry` answers the questions a user and the router ask (``providers``,
``models``, ``get``, ``route``, ``failed_plugins``, ``origin``, ``describe``). It is built
from parts, each owning its own state:

* a :class:`~provider_core.loader.PluginLoader`: the plugins and their records;
* a :class:`~provider_core.hookcalls.HookCalls`: the request-time hook queries;
* a :class:`~provider_core.routing.Router`: route plans, cached until the catalog or a
  provider's health changes; a :class:`~provider_core.settings.RoutingSettings`: aliases;
* a :class:`~provider_core.catalog.ModelCatalog` (made at first use): the live model lists,
  refreshed into the on-disk cache, after which the plugins concerned register again
  (:meth:`Registry.reload_plugins`).

The registry itself owns the providers, keyed by name case-insensitively; when two share a
name the first registered wins (plugins load in entry-point name order) and a
:class:`~provider_core.errors.DuplicateProviderWarning` is recorded and issued. Plugins load
once, lazily, at the first query; a plugin that fails never stops the others.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .contract import validate_provider
from .describe import describe as describe_provider
from .errors import DuplicateProviderWarning, ProviderNotFound, summary
from .hookcalls import HookCalls
from .loader import PluginLoader, collection_paused
from .plugins import PluginInfo
from .routing import Router, index_by_model
from .settings import RoutingSettings

if TYPE_CHECKING:
    from .aliases import Alias
    from .catalog import ModelCatalog
    from .strategy import RoutingConfig

__all__ = ["EXPLICIT", "Registry"]

#: The origin of providers registered with :meth:`Registry.register`.
EXPLICIT = "<explicit>"


class Registry:
    """Installed providers, their plugins, and the model index routing reads.

    ``Registry()`` discovers plugins through entry points at its first query;
    ``Registry(load_entry_points=False)`` starts empty and isolated (tests, embedding).
    ``environ`` replaces ``os.environ`` for the plugin allow/deny lists and the built-in
    plugins' settings. ``builtins`` (default: ``load_entry_points``) adds the plugins shipped
    with the core, such as the circuit breaker (:mod:`provider_core.health`);
    ``read_config`` (default: ``load_entry_points``) reads the aliases and routing settings
    of the user's config file (:mod:`provider_core.userconfig`).
    """

    def __init__(
        self,
        load_entry_points: bool = True,
        *,
        environ: Mapping[str, str] | None = None,
        builtins: bool | None = None,
        read_config: bool | None = None,
    ) -> None:
        self._environ = environ
        self._entry_points = load_entry_points
        self._builtins = load_entry_points if builtins is None else builtins
        self._lock = threading.RLock()
        self._state = "new"  # "loading" (in this thread, under the lock), then "loaded"
        self._providers: dict[str, type] = {}
        self._origin: dict[str, str] = {}
        self._warnings: list[str] = []
        self._index: dict[str, tuple[type, ...]] | None = None
        self._builtin_plugins: list[object] = []
        self._parts: tuple[Any, HookCalls, PluginLoader] | None = None  # built with the first query
        self._catalog: ModelCatalog | None = None
        #: route plans for this registry, cached; health plugins tell it when answers change
        self.router = Router(self)
        #: the aliases and [routing] settings (provider_core.settings)
        self.settings = RoutingSettings(
            lambda: self.hooks.caller("register_aliases"),
            environ,
            self._warn,
            read_config=load_entry_points if read_config is None else read_config,
        )

    def _built(self) -> tuple[Any, HookCalls, PluginLoader]:
        """The plugin manager, its hook calls and the loader, made at the first query
        (creating a registry imports nothing: pluggy comes with the first question)."""
        parts = self._parts
        if parts is None:
            from . import hookspecs
            from .manager import PluginManager

            with self._lock:
                if self._parts is None:
                    manager = PluginManager(hookspecs.PROJECT_NAME)
                    manager.add_hookspecs(hookspecs)
                    hooks = HookCalls(manager, self._warn)
                    self._parts = (manager, hooks, PluginLoader(manager, self._accept, self._warn, self._environ))
                parts = self._parts
        return parts

    @property
    def hooks(self) -> HookCalls:
        """The request-time hook queries (``provider_working``, ``provider_attempt``, ...)."""
        return self._built()[1]

    @property
    def catalog(self) -> ModelCatalog:
        """The live model lists of this registry's providers (:mod:`provider_core.catalog`)."""
        if self._catalog is None:
            from .catalog import ModelCatalog

            with self._lock:
                if self._catalog is None:
                    self._catalog = ModelCatalog(self, self._environ)
        return self._catalog

    @property
    def loaded(self) -> bool:
        """Whether the plugins have been loaded (at the first query, or by :meth:`load`)."""
        return self._state == "loaded"

    # -- loading ----------------------------------------------------------------------

    def load(self) -> Registry:
        """Load the plugins now (otherwise done at the first query); returns the registry."""
        if self._state == "loaded":
            return self
        with self._lock:  # other threads wait here until loading is complete
            if self._state != "new":
                return self  # loaded, or a plugin of this very thread querying while it loads
            self._state = "loading"
            try:
                with collection_paused():
                    if self._builtins:
                        self._add_builtins()
                    if self._entry_points:
                        self._built()[2].load_entry_points()
            finally:
                self._state = "loaded"
                self._changed()
        return self

    def _add_builtins(self) -> None:
        """The core's own plugins (``PROVIDER_CORE_BREAKER=off`` removes the breaker). One
        that cannot be set up is a warning, not a failed plugin: the core stays usable."""
        try:
            from .health.plugin import builtin_plugins

            plugins = builtin_plugins(self, self._environ)
            self._built()[2].add_builtins(plugins)
        except Exception as exc:  # a bad setting must not break the CLI
            self._warn(f"built-in plugins failed: {summary(exc)}")
            return
        self._builtin_plugins = [plugin for _, plugin in plugins]

    @property
    def plugin_manager(self) -> Any:
        """The :class:`pluggy.PluginManager` of this registry."""
        return self._built()[0]

    def add_plugin(self, plugin: object, name: str | None = None, *, builtin: bool = False) -> PluginInfo:
        """Register an in-process plugin (a module or object with hook implementations)
        and run its ``register_providers`` hook now (the installed plugins still load at the
        first query). Returns its record."""
        with self._lock:
            info = self._built()[2].add(plugin, name, builtin=builtin)
            self._changed()
            return info

    # -- registration -----------------------------------------------------------------

    def register(self, cls: type, *, replace: bool = False) -> type:
        """Register a provider class in-process (usable as a decorator).

        Raises :class:`ProviderContractError` naming the class and rule it breaks. A name
        that is taken keeps its first class (with a warning) unless ``replace=True``.
        """
        self.load()
        self._file(cls, EXPLICIT, replace=replace)
        return cls

    def _accept(self, cls: type, info: PluginInfo, into: tuple[dict[str, type], dict[str, str]] | None = None) -> None:
        """The loader's callback for a class a plugin registered (filed ``into`` the given
        providers and origins while :meth:`reload_plugins` builds them)."""
        if self._file(cls, info.name, replace=False, into=into) and cls.name not in info.providers:
            info.providers.append(cls.name)

    def _file(
        self, cls: type, origin: str, *, replace: bool, into: tuple[dict[str, type], dict[str, str]] | None = None
    ) -> bool:
        """Check ``cls`` and file it under its name; False when a duplicate was ignored."""
        validate_provider(cls)
        key = cls.name.lower()
        with self._lock:
            providers, origins = into or (self._providers, self._origin)
            current = providers.get(key)
            if current is cls:
                return True
            if current is not None and not replace:
                text = (
                    f"provider name {cls.name!r} registered twice: keeping {_label(current)} "
                    f"from {origins[key]!r}, ignoring {_label(cls)} from {origin!r}"
                )
                self._warn(text, DuplicateProviderWarning)
                loader = self._built()[2]
                for info in (loader.info(origins[key]), loader.info(origin)):
                    if info is not None and text not in info.warnings:
                        info.warnings.append(text)
                return False
            providers[key] = cls
            origins[key] = origin
            self._changed()
            return True

    def reload_plugins(self, names: Iterable[str]) -> list[str]:
        """Run the ``register_providers`` hook of each plugin named again (the model
        catalog does, after the cache changed for one of its providers): the classes it
        registers now replace those it registered before, all at once, so a query in
        another thread sees the old set or the new one, never a mix. Returns the plugins
        whose hook ran (a plugin that failed to import, or is unknown, is skipped)."""
        self.load()
        names = list(dict.fromkeys(names))
        with self._lock:
            loader = self._built()[2]
            providers = {k: c for k, c in self._providers.items() if self._origin[k] not in names}
            origins = {k: self._origin[k] for k in providers}
            ran = [n for n in names if loader.rerun(n, lambda cls, info: self._accept(cls, info, (providers, origins)))]
            for key, cls in self._providers.items():  # a plugin that could not run again keeps its classes
                if self._origin[key] in names and self._origin[key] not in ran:
                    providers.setdefault(key, cls)
                    origins.setdefault(key, self._origin[key])
            self._origin = {**self._origin, **origins}  # a reader finding a new class finds its origin
            self._providers = providers
            self._origin = origins
            self._changed()
        return ran

    def unregister(self, name: str) -> type:
        """Remove a provider by name; returns its class."""
        with self._lock:
            cls = self.get(name)
            del self._providers[cls.name.lower()]
            del self._origin[cls.name.lower()]
            self._changed()
            return cls

    def _changed(self) -> None:
        """The catalog changed: the model index is rebuilt at the next query, the plugins'
        aliases are asked again, and every cached route plan is dropped."""
        self._index = None
        if self._parts is not None:
            self._parts[1].forget()
        self.settings.forget()
        self.router.routes_changed()

    def aliases(self) -> Mapping[str, Alias]:
        """Every alias: the plugins', the config file's (which win), and :meth:`add_alias`'s."""
        self.load()
        return self.settings.aliases()

    def add_alias(self, name: str, targets: str | list[str]) -> Alias:
        """Define alias ``name`` (``"MODEL[@PROVIDER]"`` or an ordered list) in this process."""
        alias = self.settings.add_alias(name, targets)
        self.router.routes_changed()
        return alias

    def routing_config(self) -> RoutingConfig:
        """The ``[routing]`` settings of the config file (strategy, weights)."""
        self.load()
        return self.settings.routing()

    def _warn(self, text: str, category: type[Warning] = RuntimeWarning) -> None:
        self._warnings.append(text)
        warnings.warn(text, category, stacklevel=4)

    # -- queries ----------------------------------------------------------------------

    def get(self, name: str) -> type:
        """The provider registered under ``name`` (case-insensitive), else :class:`ProviderNotFound`."""
        self.load()
        cls = self._providers.get(name.lower()) if isinstance(name, str) else None
        if cls is None:
            raise ProviderNotFound(str(name), known=sorted(c.name for c in self._providers.values()))
        return cls

    def __contains__(self, name: object) -> bool:
        self.load()
        return isinstance(name, str) and name.lower() in self._providers

    def __len__(self) -> int:
        self.load()
        return len(self._providers)

    def origin(self, provider: type | str) -> str:
        """The plugin (entry-point name, or ``"<explicit>"``) that registered ``provider``."""
        name = provider if isinstance(provider, str) else provider.name
        return self._origin[self.get(name).name.lower()]

    def is_working(self, provider: type, model: str | None = None) -> bool:
        """Whether ``provider`` (for ``model``) works now: the hooks', else its own flag."""
        return self.hooks.is_working(provider, model)

    def status_reason(self, provider: type, model: str | None = None) -> str | None:
        """Why ``provider`` (for ``model``) is not working now, as routing says; else ``None``."""
        return None if self.hooks.is_working(provider, model) else self.router.not_working_reason(provider, model)

    def providers(
        self, working: bool | None = None, model: str | None = None, stream: bool | None = None
    ) -> list[type]:
        """Registered providers sorted by name, filtered by any of: working now, serving
        ``model``, supporting streaming."""
        self.load()
        found = list(self.model_index().get(model, ())) if model is not None else list(self._providers.values())
        if stream is not None:
            found = [p for p in found if bool(p.supports_stream) == stream]
        if working is not None:
            found = [p for p in found if self.hooks.is_working(p) == working]
        return sorted(found, key=lambda p: p.name.lower())

    def models(self) -> dict[str, list[str]]:
        """Every model id served, mapped to its providers' names in routing order."""
        index = self.model_index()
        return {model: [p.name for p in index[model]] for model in sorted(index)}

    def candidates(self, model: str) -> tuple[type, ...]:
        """The providers that list ``model``, in routing order (priority, then name),
        before any working or streaming filter. O(1) in the number of providers."""
        return self.model_index().get(model, ())

    def model_index(self) -> dict[str, tuple[type, ...]]:
        """Model id -> its providers in routing order; built once per catalog change."""
        index = self._index
        if index is None:
            self.load()
            with self._lock:
                index = self._index = index_by_model(self._providers.values())
        return index

    def route(
        self,
        model: str,
        stream: bool = False,
        include_not_working: bool = False,
        prefer: Sequence[str] | None = None,
    ) -> list[type]:
        """The ordered candidates for ``model`` (see :class:`~provider_core.routing.Router`).

        Raises :class:`ModelNotSupported` for an unknown model and
        :class:`NoProviderAvailable` (with each skipped provider and why) when none is left.
        """
        self.load()
        return list(self.router.route(model, stream, include_not_working, prefer))

    @property
    def caches_routes(self) -> bool:
        """Whether route plans may be cached: no plugin but the core's own answers
        ``provider_working`` (the built-in breaker tells the router when its answers change;
        any other plugin's answers are asked on every routing decision)."""
        self.load()
        return all(plugin in self._builtin_plugins for plugin in self.hooks.implementers("provider_working"))

    def failed_plugins(self) -> list[PluginInfo]:
        """Plugins that could not load, whose hook raised, or that registered a refused class."""
        return [info for info in self.plugins() if info.failed]

    def plugins(self) -> list[PluginInfo]:
        """Every plugin seen, loaded or not, in load order: the core's own first (status
        ``"builtin"``, such as the circuit breaker), then the entry points."""
        self.load()
        return self._built()[2].plugins()

    def models_seen(self) -> dict[str, Any]:
        """The model-cache entries this registry's providers were registered from, by key
        (:mod:`provider_core.modelcache`): what the model catalog compares with the cache."""
        self.load()
        return dict(self._built()[2].models_seen)

    def warnings(self) -> list[str]:
        """Warnings recorded while loading (duplicate names, failed discovery, raising hooks)."""
        self.load()
        return list(self._warnings)

    def iter_providers(self) -> Iterable[tuple[str, type]]:
        """``(origin, class)`` pairs in registration order."""
        self.load()
        return [(self._origin[k], c) for k, c in self._providers.items()]

    def describe(self, provider: type) -> dict[str, Any]:
        """What the front ends show of one provider: see :func:`provider_core.describe.describe`."""
        return describe_provider(self, provider)


def _label(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
