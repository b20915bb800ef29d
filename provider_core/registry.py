"""The registry: which providers are installed, which work, which serve a model.

One :class:`pluggy.PluginManager` per :class:`Registry`. Entry points load once, lazily,
at the first query; a plugin that fails to import, or whose hook raises, is recorded and
never stops the others. Providers are keyed by name, case-insensitively; when two share
a name the first registered wins (plugins load in entry-point name order) and a
:class:`~provider_core.errors.DuplicateProviderWarning` is recorded and issued.

:class:`Registry` is the public face: registration, queries, the model index and the route
cache. It inherits the loading of plugins from :class:`~provider_core.loader.PluginLoader`
and the request-time hook queries (``is_working``, ``allow_attempt``, ...) from
:class:`~provider_core.hookcalls.HookCalls`; all state lives on the registry itself.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .contract import validate_provider
from .errors import DuplicateProviderWarning, ProviderNotFound
from .hookcalls import HookCalls
from .loader import PluginLoader
from .plugins import PluginInfo

__all__ = ["Registry", "get_registry", "reset_registry"]

EXPLICIT = "<explicit>"


class Registry(PluginLoader, HookCalls):
    """Installed providers, their plugins, and the model index routing reads.

    ``Registry()`` discovers plugins through entry points at its first query;
    ``Registry(load_entry_points=False)`` starts empty and isolated (tests, embedding).
    ``environ`` replaces ``os.environ`` for the plugin allow/deny lists and the built-in
    plugins' settings. ``builtins`` (default: ``load_entry_points``) adds the plugins shipped
    with the core, such as the circuit breaker (:mod:`provider_core.health`).
    """

    def __init__(
        self,
        load_entry_points: bool = True,
        *,
        environ: Mapping[str, str] | None = None,
        builtins: bool | None = None,
    ) -> None:
        # loading (PluginLoader)
        self._load_entry_points = load_entry_points
        self._builtins = load_entry_points if builtins is None else builtins
        self._environ = environ
        self._lock = threading.RLock()
        self._loaded = False
        self._loading = False
        self._pm: Any = None
        self._plugins: dict[str, PluginInfo] = {}
        # providers, the model index and the route cache (here)
        self._providers: dict[str, type] = {}
        self._origin: dict[str, str] = {}
        self._warnings: list[str] = []
        self._index: dict[str, tuple[type, ...]] | None = None
        self._route_cache: dict[tuple[Any, ...], Any] = {}
        self._route_expiry: dict[Callable[[], float], float] = {}
        # which hooks are implemented (HookCalls)
        self._working_hooked: bool | None = None
        self._dynamic: bool | None = None
        self._callers: dict[str, Any] = {}

    # -- registration -----------------------------------------------------------------

    def register(self, cls: type, *, replace: bool = False) -> type:
        """Register a provider class in-process (usable as a decorator).

        Raises :class:`ProviderContractError` naming the class and rule it breaks. A name
        that is taken keeps its first class (with a warning) unless ``replace=True``.
        """
        self._ensure_loaded()
        self._register(cls, EXPLICIT, replace=replace)
        return cls

    def _register(self, cls: type, origin: str, *, replace: bool) -> None:
        validate_provider(cls)
        key = cls.name.lower()
        with self._lock:
            current = self._providers.get(key)
            if current is cls:
                return
            if current is not None and not replace:
                text = (
                    f"provider name {cls.name!r} registered twice: keeping {self._label(current)} "
                    f"from {self._origin[key]!r}, ignoring {self._label(cls)} from {origin!r}"
                )
                self._warn(text, DuplicateProviderWarning)
                for info in (self._plugins.get(self._origin[key]), self._plugins.get(origin)):
                    if info is not None and text not in info.warnings:
                        info.warnings.append(text)
                return
            self._providers[key] = cls
            self._origin[key] = origin
            self._invalidate()

    def unregister(self, name: str) -> type:
        """Remove a provider by name; returns its class."""
        self._ensure_loaded()
        with self._lock:
            cls = self.get(name)
            del self._providers[cls.name.lower()]
            del self._origin[cls.name.lower()]
            self._invalidate()
            return cls

    @staticmethod
    def _label(cls: type) -> str:
        return f"{cls.__module__}.{cls.__qualname__}"

    def _warn(self, text: str, category: type[Warning] = RuntimeWarning) -> None:
        self._warnings.append(text)
        warnings.warn(text, category, stacklevel=4)

    def _invalidate(self) -> None:
        self._index = None
        self._route_cache = {}
        self._route_expiry = {}

    def routes_changed(self, after: float | None = None, clock: Callable[[], float] | None = None) -> None:
        """Drop the cached route plans now, or (``after`` seconds) when ``clock()`` (default
        :func:`time.monotonic`) has moved on that far. For plugins whose ``provider_working``
        answers change (see the hookspec's ``notifies_changes``)."""
        if after is None or after <= 0:
            self._route_cache = {}
            self._route_expiry = {}
            return
        clock = clock or time.monotonic
        at = clock() + after
        with self._lock:
            if at < self._route_expiry.get(clock, float("inf")):
                self._route_expiry = {**self._route_expiry, clock: at}

    def _routes_expired(self) -> bool:
        """Drop the cached plans if a deadline set by :meth:`routes_changed` has passed."""
        if any(clock() >= at for clock, at in list(self._route_expiry.items())):
            self.routes_changed()
            return True
        return False

    # -- queries ----------------------------------------------------------------------

    def get(self, name: str) -> type:
        """The provider registered under ``name`` (case-insensitive), else :class:`ProviderNotFound`."""
        self._ensure_loaded()
        cls = self._providers.get(name.lower()) if isinstance(name, str) else None
        if cls is None:
            raise ProviderNotFound(str(name), known=sorted(c.name for c in self._providers.values()))
        return cls

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return isinstance(name, str) and name.lower() in self._providers

    def __len__(self) -> int:
        self._ensure_loaded()
        return len(self._providers)

    def origin(self, provider: type | str) -> str:
        """The plugin (entry-point name, or ``"<explicit>"``) that registered ``provider``."""
        name = provider if isinstance(provider, str) else provider.name
        return self._origin[self.get(name).name.lower()]

    def providers(
        self, working: bool | None = None, model: str | None = None, stream: bool | None = None
    ) -> list[type]:
        """Registered providers sorted by name, filtered by any of: working now, serving
        ``model``, supporting streaming."""
        self._ensure_loaded()
        found = list(self._model_index().get(model, ())) if model is not None else list(self._providers.values())
        if stream is not None:
            found = [p for p in found if bool(p.supports_stream) == stream]
        if working is not None:
            found = [p for p in found if self.is_working(p) == working]
        return sorted(found, key=lambda p: p.name.lower())

    def models(self) -> dict[str, list[str]]:
        """Every model id served, mapped to its providers' names in routing order."""
        self._ensure_loaded()
        index = self._model_index()
        return {model: [p.name for p in index[model]] for model in sorted(index)}

    def candidates(self, model: str) -> tuple[type, ...]:
        """The providers that list ``model``, in routing order (priority, then name),
        before any working or streaming filter. O(1) in the number of providers."""
        self._ensure_loaded()
        return self._model_index().get(model, ())

    def _model_index(self) -> dict[str, tuple[type, ...]]:
        index = self._index
        if index is None:
            with self._lock:
                building: dict[str, list[type]] = {}
                for cls in self._providers.values():
                    for model in cls.models:
                        building.setdefault(model, []).append(cls)
                index = {
                    m: tuple(sorted(ps, key=lambda p: (-p.priority, p.name.lower()))) for m, ps in building.items()
                }
                self._index = index
        return index

    def route(
        self,
        model: str,
        stream: bool = False,
        include_not_working: bool = False,
        prefer: Sequence[str] | None = None,
    ) -> list[type]:
        """The ordered candidates for ``model``; see :func:`provider_core.routing.plan_route`.

        Raises :class:`ModelNotSupported` for an unknown model and
        :class:`NoProviderAvailable` (with each skipped provider and why) when none is left.
        """
        plan_route = _PLAN_ROUTE or _load_plan_route()  # an import statement here costs more than routing
        return list(plan_route(self, model, stream, include_not_working, prefer))

    def failed_plugins(self) -> list[PluginInfo]:
        """Plugins that could not load, whose hook raised, or that registered a refused class."""
        self._ensure_loaded()
        return [info for info in self._plugins.values() if info.failed]

    def plugins(self) -> list[PluginInfo]:
        """Every plugin seen, loaded or not, in load order: the core's own first (status
        ``"builtin"``, such as the circuit breaker), then the entry points."""
        self._ensure_loaded()
        return list(self._plugins.values())

    def warnings(self) -> list[str]:
        """Warnings recorded while loading (duplicate names, failed discovery, raising hooks)."""
        self._ensure_loaded()
        return list(self._warnings)

    def iter_providers(self) -> Iterable[tuple[str, type]]:
        """``(origin, class)`` pairs in registration order."""
        self._ensure_loaded()
        return [(self._origin[k], c) for k, c in self._providers.items()]


_PLAN_ROUTE: Callable[..., tuple[type, ...]] | None = None


def _load_plan_route() -> Callable[..., tuple[type, ...]]:
    """:func:`provider_core.routing.plan_route`, imported at the first route (routing is not
    needed to list providers, so the CLI does not pay for importing it)."""
    global _PLAN_ROUTE
    from .routing import plan_route

    _PLAN_ROUTE = plan_route
    return plan_route


_default: Registry | None = None
_default_lock = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry, discovering installed plugins at its first query."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Registry()
    return _default


def reset_registry(registry: Registry | None = None) -> Callable[[], None]:
    """Replace the process-wide registry (``None``: a fresh one at next use); returns an undo."""
    global _default
    with _default_lock:
        previous = _default
        _default = registry

    def undo() -> None:
        global _default
        with _default_lock:
            _default = previous

    return undo
