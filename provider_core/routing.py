"""Routing by model name or alias: which candidates serve a request, in what order, and why
the others are skipped; the plans cached until something they depend on changes.

Candidates for a model id: the providers that list it, highest ``priority`` first, then by
name (case-insensitive). For an alias (:mod:`provider_core.aliases`; a real model id wins
over an alias of the same name): its targets in order, each target's providers as for a
model id, each candidate asked for its target's model. ``prefer=[names]`` moves those
providers to the front for one call. A candidate is skipped when it is not working for
that model (static flag, or the ``provider_working`` hook: a circuit open for the provider
or for that model) unless ``include_not_working``, when streaming is asked and it does not
stream, or when the request needs what it lacks (tools, images, JSON output:
:class:`~provider_core.options.Needs`); each skip is recorded with its reason, and when
known the seconds until it may be tried again, in the :class:`RoutePlan`.

A strategy (:mod:`provider_core.strategy`) then orders the candidates of equal rank for each
request (:meth:`Router.order`); plans never depend on it.

A :class:`Router` belongs to one registry (``registry.router``) and owns its plans and its
:class:`~provider_core.strategy.LoadStats`. Plans are dropped when the registry changes (it
tells its router) and when a health plugin says its answers changed:
:meth:`Router.routes_changed`, now or after a delay (an open circuit turning half-open at a
known time). While a plugin other than the core's own answers ``provider_working``, nothing
is cached: its answers may change at any moment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Protocol

from .aliases import Alias, as_served, expand
from .errors import Attempt, ModelNotSupported, NoProviderAvailable
from .hookcalls import HookCalls
from .messages import validate_model
from .options import LACKS, NOTHING, Needs
from .records import Record
from .strategy import LoadStats, RoutingConfig, order

__all__ = [
    "LIBRARY_HINT",
    "NO_STREAM",
    "Catalog",
    "HintWording",
    "RoutePlan",
    "Router",
    "index_by_model",
    "override_hint",
]


class Catalog(Protocol):
    """What routing asks of the catalog it routes over (a :class:`~provider_core.registry.Registry`)."""

    @property
    def hooks(self) -> HookCalls: ...

    @property
    def caches_routes(self) -> bool: ...

    def candidates(self, model: str) -> tuple[type, ...]: ...

    def models(self) -> dict[str, list[str]]: ...

    def origin(self, provider: type | str) -> str: ...

    def aliases(self) -> Mapping[str, Alias]: ...

    def routing_config(self) -> RoutingConfig: ...

    def providers(self) -> list[type]: ...


NO_STREAM = "does not support streaming"


def index_by_model(providers: Iterable[type]) -> dict[str, tuple[type, ...]]:
    """Model id -> the ``providers`` listing it, in routing order: highest ``priority``
    first, then by name (case-insensitive)."""
    building: dict[str, list[type]] = {}
    for cls in providers:
        for model in cls.models:
            building.setdefault(model, []).append(cls)
    return {m: tuple(sorted(ps, key=lambda p: (-p.priority, p.name.lower()))) for m, ps in building.items()}


class RoutePlan(Record):
    """A routing decision: the ordered ``candidates``, the model each is asked for
    (``models``), their ranks (``tiers``, ascending: a strategy reorders within equal ones),
    and each ``skipped`` provider with why. ``alias`` is the alias the request named, and
    ``strategy`` the strategy that orders the candidates per request; ``keys`` the
    (provider name, model) of each candidate, as the strategies' figures are keyed."""

    _fields = ("model", "stream", "candidates", "skipped", "models", "tiers", "alias", "strategy", "keys")
    __slots__ = _fields
    _defaults: ClassVar = {"skipped": (), "models": (), "tiers": (), "alias": None, "strategy": "priority", "keys": ()}
    model: str
    stream: bool
    candidates: tuple[type, ...]
    skipped: tuple[Attempt, ...]
    models: tuple[str, ...]
    tiers: tuple[int, ...]
    alias: Alias | None
    strategy: str
    keys: tuple[tuple[str, str], ...]

    def model_of(self, index: int) -> str:
        return self.models[index] if self.models else self.model

    def to_dict(self, registry: Catalog | None = None) -> dict[str, Any]:
        def origin(p: type) -> str | None:
            return registry.origin(p) if registry is not None else None

        return {
            "model": self.model,
            "stream": self.stream,
            "alias": self.alias.to_dict() if self.alias is not None else None,
            "strategy": self.strategy,
            "candidates": [
                {"name": p.name, "model": self.model_of(i), "plugin": origin(p), "priority": p.priority}
                for i, p in enumerate(self.candidates)
            ],
            "skipped": [
                {"name": a.provider, "model": a.model or self.model, "reason": a.reason, "retry_after": a.retry_after}
                for a in self.skipped
            ],
        }


class HintWording(Record):
    """How a front end words the two ways to call a provider that routing skipped as not
    working: ``name_it`` (formatted with ``name``) and ``include_all``."""

    _fields = ("name_it", "include_all")
    __slots__ = _fields
    name_it: str
    include_all: str


#: The library's wording: the Python keywords, and the CLI's options.
LIBRARY_HINT = HintWording(
    "name it (provider={name!r}; CLI: --provider {name})",
    "allow providers marked not working (include_not_working=True; CLI: --include-not-working)",
)


def override_hint(skipped: RoutePlan | Sequence[Attempt], wording: HintWording = LIBRARY_HINT) -> str:
    """How to call anyway a provider that was skipped for not working (or ``""``), from a
    plan or the attempts of a :class:`~provider_core.errors.NoProviderAvailable`, in the
    ``wording`` of the front end that shows it (the gateway has its own). A provider skipped
    for lacking a capability (tools, images, JSON) or streaming is not offered: naming it
    would not help."""
    attempts = skipped.skipped if isinstance(skipped, RoutePlan) else skipped
    names = [a.provider for a in attempts if a.reason != NO_STREAM and a.reason not in LACKS and a.error is None]
    if names:
        return f"To call it anyway, {wording.name_it.format(name=names[0])} or {wording.include_all}"
    return ""


class Router:
    """Route plans for one registry, cached; see the module docstring."""

    def __init__(self, registry: Catalog) -> None:
        self._registry = registry
        self._plans: dict[tuple[Any, ...], RoutePlan] = {}
        self._deadlines: dict[Callable[[], float], float] = {}  # clock -> when the plans expire
        self._lock = threading.Lock()
        self._rng: Any = None  # a random.Random, made when a strategy first needs one
        self._routing: RoutingConfig | None = None
        #: Time to first chunk and requests in flight per (provider, model), for the strategies.
        self.stats = LoadStats()

    def routes_changed(self, after: float | None = None, clock: Callable[[], float] | None = None) -> None:
        """Drop the cached plans now; or, with ``after``, once ``clock()`` (default
        :func:`time.monotonic`) has moved on that many seconds. Health plugins call it when
        their ``provider_working`` answers change (the built-in circuit breaker does)."""
        if after is None or after <= 0:
            self._plans = {}
            self._deadlines = {}
            self._rng = None
            self._routing = None
            return
        clock = clock or time.monotonic
        at = clock() + after
        with self._lock:
            if at < self._deadlines.get(clock, float("inf")):
                self._deadlines = {**self._deadlines, clock: at}

    def plan(
        self,
        model: str,
        stream: bool = False,
        include_not_working: bool = False,
        prefer: Sequence[str] | None = None,
        needs: Needs = NOTHING,
    ) -> RoutePlan:
        """The :class:`RoutePlan` for ``model`` (or an alias), which may have no candidate;
        raises :class:`ModelNotSupported` when nothing lists the model (with close
        matches). ``needs`` is what the request needs of a provider (see
        :func:`~provider_core.options.needs`)."""
        if type(model) is not str:
            validate_model(model)  # raises: a cache key must be hashable
        # NOTHING (a plain request) keys as None: hashing a Needs record costs 0.6 us
        key = (
            model,
            stream,
            include_not_working,
            tuple(prefer) if prefer else None,
            None if needs is NOTHING else needs,
        )
        if self._deadlines and any(clock() >= at for clock, at in list(self._deadlines.items())):
            self.routes_changed()
        plan = self._plans.get(key)
        if plan is None:
            plan = self._decide(model, stream, include_not_working, prefer, needs)
            if self._registry.caches_routes:
                self._plans[key] = plan
        return plan

    def order(self, plan: RoutePlan) -> tuple[tuple[type, ...], tuple[str, ...]]:
        """The candidates of ``plan`` and their models, in the order this request tries
        them: the plan's, reordered within equal ranks by its strategy."""
        if plan.strategy == "priority":
            return plan.candidates, plan.models
        config = self._config()
        if self._rng is None:
            import random  # only for a strategy other than priority: random costs start-up

            self._rng = random.Random(config.seed)
        keys = plan.keys or None
        stats: Any = self.stats
        hooks = self._registry.hooks
        if plan.strategy == "latency" and hooks.implemented("provider_latency"):
            stats = _SharedFigures(hooks, plan, self.stats)  # shared across processes (Redis)
        return order(plan.candidates, plan.models, plan.tiers, plan.strategy, stats, config, self._rng, keys)

    def _config(self) -> RoutingConfig:
        """The registry's routing settings, kept until the plans are dropped (asked per request)."""
        config = self._routing
        if config is None:
            config = self._routing = self._registry.routing_config()
            self.stats.counts_load = config.counts_load
        return config

    def explain(self, plan: RoutePlan) -> dict[str, Any]:
        """``plan`` as ``route --json`` shows it: its :meth:`RoutePlan.to_dict`, with the
        candidates in this request's order and each one's ``score`` under the plan's
        strategy (``latency_ms``: ``None`` until measured; ``in_flight``; ``weight``)."""
        data = plan.to_dict(self._registry)
        candidates, models = self.order(plan)
        config = self._config()
        rows = []
        for provider, model in zip(candidates, models or (plan.model,) * len(candidates), strict=True):
            row = {"name": provider.name, "model": model, "plugin": self._registry.origin(provider)}
            row["priority"] = provider.priority
            if plan.strategy == "latency":
                seen = self.stats.latency(provider.name, model)
                row["score"] = {"latency_ms": None if seen is None else round(seen * 1000, 3)}
            elif plan.strategy == "least-busy":
                row["score"] = {"in_flight": self.stats.inflight(provider.name, model)}
            elif plan.strategy == "weighted":
                row["score"] = {"weight": config.weight(provider.name, model)}
            rows.append(row)
        data["candidates"] = rows
        return data

    def measures(self) -> bool:
        """Whether requests should feed :attr:`stats` (some strategy reads it)."""
        return self._config().measures

    def route(
        self,
        model: str,
        stream: bool = False,
        include_not_working: bool = False,
        prefer: Sequence[str] | None = None,
        needs: Needs = NOTHING,
    ) -> tuple[type, ...]:
        """The ordered candidates for ``model``, or :class:`NoProviderAvailable` saying, for
        each provider that lists the model, why it was skipped."""
        plan = self.plan(model, stream, include_not_working, prefer, needs)
        if not plan.candidates:
            raise NoProviderAvailable(model, list(plan.skipped), hint=override_hint(plan))
        return plan.candidates

    def not_working_reason(self, provider: type, model: str | None = None) -> str:
        """Why routing skips ``provider`` (for ``model``) as not working, in a few words: a
        ``provider_status`` hook's answer, else the class's ``status_reason``."""
        status = self._registry.hooks.status_reason(provider, model) or getattr(provider, "status_reason", None)
        if status:
            return str(status)
        if provider.working:
            return "reported not working by a provider_working hook"
        return "marked not working"

    def _targets(self, model: str) -> tuple[list[tuple[type, str, int]], Alias | None]:
        """``(provider, model asked, rank)`` for each candidate in routing order, and the
        alias ``model`` named (``None`` for a model id)."""
        registry = self._registry
        listed = registry.candidates(model)
        if listed:
            return [(p, model, -p.priority) for p in listed], None
        aliases = registry.aliases()
        alias = aliases.get(model)
        if alias is None:
            if not model:
                raise ModelNotSupported(model, reason="no model given: name one (see `provider-core providers`)")
            import difflib  # only for this error: listing providers imports this module

            close = difflib.get_close_matches(model, [*registry.models(), *aliases], n=3, cutoff=0.6)
            raise ModelNotSupported(model, suggestions=close)
        names = {p.name.lower(): p.name for p in registry.providers()}
        served = registry.models()
        ranked = registry.routing_config().strategy_for(model) == "priority"
        found: list[tuple[type, str, int]] = []
        targets, _ = expand(model, aliases)  # loops and unknown targets: reported by `check`
        for i, target in enumerate(as_served(t, served, names) for t in targets):
            for provider in registry.candidates(target.model):
                if target.provider is not None and provider.name.lower() != target.provider.lower():
                    continue
                if not any(p is provider and m == target.model for p, m, _ in found):
                    found.append((provider, target.model, i if ranked else 0))
        if not found:
            why = f"the alias {model!r} has no usable target (see `provider-core check`)"
            raise ModelNotSupported(model, reason=why)
        return found, alias

    def _decide(
        self, model: str, stream: bool, include_not_working: bool, prefer: Sequence[str] | None, needs: Needs
    ) -> RoutePlan:
        validate_model(model)
        hooks = self._registry.hooks
        targets, alias = self._targets(model)
        chosen: list[tuple[type, str, int]] = []
        skipped: list[Attempt] = []
        for provider, asked, rank in targets:
            lacks = needs.missing(provider) if needs is not NOTHING else None
            shown = asked if asked != model else None
            if stream and not provider.supports_stream:
                skipped.append(Attempt(provider.name, NO_STREAM, model=shown))
            elif lacks is not None:
                skipped.append(Attempt(provider.name, lacks, model=shown))
            elif not include_not_working and not hooks.is_working(provider, asked):
                reason = self.not_working_reason(provider, asked)
                wait = hooks.retry_after(provider, asked)
                skipped.append(Attempt(provider.name, reason, model=shown, retry_after=wait))
            else:
                chosen.append((provider, asked, rank))
        if prefer:
            first = {name.lower(): i for i, name in enumerate(prefer)}
            chosen.sort(key=lambda c: first.get(c[0].name.lower(), len(first)))
            chosen = [(p, m, i) for i, (p, m, _) in enumerate(chosen)]  # the caller's order is the ranking
        strategy = self._config().strategy_for(alias.name if alias is not None else None)
        return RoutePlan(
            model,
            stream,
            tuple(c[0] for c in chosen),
            tuple(skipped),
            tuple(c[1] for c in chosen),
            tuple(c[2] for c in chosen),
            alias,
            strategy,
            tuple((c[0].name, c[1]) for c in chosen),
        )


class _SharedFigures:
    """The figures of one plan's candidates from the ``provider_latency`` hooks (shared
    across processes), this process's own where a hook has none."""

    def __init__(self, hooks: HookCalls, plan: RoutePlan, own: LoadStats) -> None:
        self._hooks = hooks
        self._plan = plan
        self._own = own

    def latencies(self, keys: Sequence[tuple[str, str]]) -> list[float]:
        own = self._own.latencies(keys)
        shared = [self._hooks.latency(p, self._plan.model_of(i)) for i, p in enumerate(self._plan.candidates)]
        return [s if s is not None else o for s, o in zip(shared, own, strict=True)]
