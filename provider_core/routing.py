"""Routing by model name: which candidates serve a request, in what order, and why the
others are skipped; the plans cached until something they depend on changes.

Order of candidates for a model: the providers that list it, highest ``priority`` first,
then by name (case-insensitive); ``prefer=[names]`` moves those to the front for one call.
A candidate is skipped when it is not working (static flag or ``provider_working`` hook)
unless ``include_not_working``, when streaming is asked and it does not stream, or when the
request needs what it lacks (tools, images, JSON output: :class:`~provider_core.options.Needs`);
each skip is recorded with its reason in the :class:`RoutePlan`.

A :class:`Router` belongs to one registry (``registry.router``) and owns its plans. They
are dropped when the registry changes (it tells its router) and when a health plugin says
its answers changed: :meth:`Router.routes_changed`, now or after a delay (an open circuit
turning half-open at a known time). While a plugin other than the core's own answers
``provider_working``, nothing is cached: its answers may change at any moment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import Attempt, ModelNotSupported, NoProviderAvailable
from .hookcalls import HookCalls
from .messages import validate_model
from .options import LACKS, NOTHING, Needs

__all__ = ["NO_STREAM", "Catalog", "RoutePlan", "Router", "override_hint"]


class Catalog(Protocol):
    """What routing asks of the catalog it routes over (a :class:`~provider_core.registry.Registry`)."""

    @property
    def hooks(self) -> HookCalls: ...

    @property
    def caches_routes(self) -> bool: ...

    def candidates(self, model: str) -> tuple[type, ...]: ...

    def models(self) -> dict[str, list[str]]: ...

    def origin(self, provider: type | str) -> str: ...


NO_STREAM = "does not support streaming"


@dataclass(frozen=True)
class RoutePlan:
    """A routing decision: the ordered ``candidates`` and each ``skipped`` provider with why."""

    model: str
    stream: bool
    candidates: tuple[type, ...]
    skipped: tuple[Attempt, ...] = field(default=())

    def to_dict(self, registry: Catalog | None = None) -> dict[str, Any]:
        def origin(p: type) -> str | None:
            return registry.origin(p) if registry is not None else None

        return {
            "model": self.model,
            "stream": self.stream,
            "candidates": [{"name": p.name, "plugin": origin(p), "priority": p.priority} for p in self.candidates],
            "skipped": [{"name": a.provider, "reason": a.reason} for a in self.skipped],
        }


def override_hint(plan: RoutePlan) -> str:
    """How to call a provider that was skipped for not working anyway (or ``""``)."""
    names = [a.provider for a in plan.skipped if a.reason != NO_STREAM and a.reason not in LACKS]
    if names:
        return (
            f"To call it anyway, name it (provider={names[0]!r}; CLI: --provider {names[0]}) "
            "or allow providers marked not working (include_not_working=True; CLI: --include-not-working)"
        )
    return ""


class Router:
    """Route plans for one registry, cached; see the module docstring."""

    def __init__(self, registry: Catalog) -> None:
        self._registry = registry
        self._plans: dict[tuple[Any, ...], RoutePlan] = {}
        self._deadlines: dict[Callable[[], float], float] = {}  # clock -> when the plans expire
        self._lock = threading.Lock()

    def routes_changed(self, after: float | None = None, clock: Callable[[], float] | None = None) -> None:
        """Drop the cached plans now; or, with ``after``, once ``clock()`` (default
        :func:`time.monotonic`) has moved on that many seconds. Health plugins call it when
        their ``provider_working`` answers change (the built-in circuit breaker does)."""
        if after is None or after <= 0:
            self._plans = {}
            self._deadlines = {}
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
        """The :class:`RoutePlan` for ``model``, which may have no candidate; raises
        :class:`ModelNotSupported` when no provider lists the model (with close matches).
        ``needs`` is what the request needs of a provider (see :func:`~provider_core.options.needs`)."""
        if type(model) is not str:
            validate_model(model)  # raises: a cache key must be hashable
        key = (model, stream, include_not_working, tuple(prefer) if prefer else None, needs)
        if self._deadlines and any(clock() >= at for clock, at in list(self._deadlines.items())):
            self.routes_changed()
        plan = self._plans.get(key)
        if plan is None:
            plan = self._decide(model, stream, include_not_working, prefer, needs)
            if self._registry.caches_routes:
                self._plans[key] = plan
        return plan

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

    def not_working_reason(self, provider: type) -> str:
        """Why routing skips ``provider`` as not working, in a few words: a
        ``provider_status`` hook's answer, else the class's ``status_reason``."""
        status = self._registry.hooks.status_reason(provider) or getattr(provider, "status_reason", None)
        if status:
            return str(status)
        if provider.working:
            return "reported not working by a provider_working hook"
        return "marked not working"

    def _decide(
        self, model: str, stream: bool, include_not_working: bool, prefer: Sequence[str] | None, needs: Needs
    ) -> RoutePlan:
        validate_model(model)
        registry = self._registry
        listed = registry.candidates(model)
        if not listed:
            if not model:
                raise ModelNotSupported(model, reason="no model given: name one (see `provider-core providers`)")
            import difflib  # only for this error: listing providers imports this module

            close = difflib.get_close_matches(model, list(registry.models()), n=3, cutoff=0.6)
            raise ModelNotSupported(model, suggestions=close)
        chosen: list[type] = []
        skipped: list[Attempt] = []
        for provider in listed:
            lacks = needs.missing(provider) if needs is not NOTHING else None
            if stream and not provider.supports_stream:
                skipped.append(Attempt(provider.name, NO_STREAM))
            elif lacks is not None:
                skipped.append(Attempt(provider.name, lacks))
            elif not include_not_working and not registry.hooks.is_working(provider):
                skipped.append(Attempt(provider.name, self.not_working_reason(provider)))
            else:
                chosen.append(provider)
        if prefer:
            rank = {name.lower(): i for i, name in enumerate(prefer)}
            chosen.sort(key=lambda p: rank.get(p.name.lower(), len(rank)))
        return RoutePlan(model, stream, tuple(chosen), tuple(skipped))
