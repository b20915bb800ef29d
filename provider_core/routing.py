"""Routing by model name, and :func:`create_completion`, the library's front door.

Order of candidates for a model: the providers that list it, highest ``priority`` first,
then by name (case-insensitive); ``prefer=[names]`` moves those to the front for one call.
A candidate is skipped when it is not working (static flag or ``provider_working`` hook)
unless ``include_not_working``, or when streaming is asked and it does not stream; each
skip is recorded with its reason in the :class:`RoutePlan`.

:func:`create_completion` validates the input, plans the route (or takes the named
provider) and hands the candidates to :class:`~provider_core.fallback.Completion`, which
falls back only before the first chunk.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import (
    Attempt,
    ModelNotSupported,
    NoProviderAvailable,
    ProviderNotFound,
    ProviderNotWorkingWarning,
    StreamInterrupted,
)
from .fallback import Completion
from .messages import validate_messages, validate_model, validate_options
from .secrets import protect_options

if TYPE_CHECKING:
    from .registry import Registry

__all__ = [
    "Completion",
    "RoutePlan",
    "collect_text",
    "create_completion",
    "explain_route",
    "open_completion",
    "plan_route",
]


@dataclass(frozen=True)
class RoutePlan:
    """A routing decision: the ordered ``candidates`` and each ``skipped`` provider with why."""

    model: str
    stream: bool
    candidates: tuple[type, ...]
    skipped: tuple[Attempt, ...] = field(default=())

    def to_dict(self, registry: Registry | None = None) -> dict[str, Any]:
        def origin(p: type) -> str | None:
            return registry.origin(p) if registry is not None else None

        return {
            "model": self.model,
            "stream": self.stream,
            "candidates": [{"name": p.name, "plugin": origin(p), "priority": p.priority} for p in self.candidates],
            "skipped": [{"name": a.provider, "reason": a.reason} for a in self.skipped],
        }


_NO_STREAM = "does not support streaming"


def _not_working_reason(provider: type, registry: Registry | None = None) -> str:
    status = registry.status_reason(provider) if registry is not None else None
    if status:
        return status
    if provider.working:
        return "reported not working by a provider_working hook"
    return "marked not working"


def explain_route(
    registry: Registry,
    model: str,
    stream: bool = False,
    include_not_working: bool = False,
    prefer: Sequence[str] | None = None,
) -> RoutePlan:
    """Compute the :class:`RoutePlan` for ``model`` without raising for an empty plan.

    Raises :class:`ModelNotSupported` when no provider lists the model (with close
    matches). The plan is cached until the registry changes, unless a
    ``provider_working`` hook makes working-ness dynamic.
    """
    if type(model) is not str:
        validate_model(model)  # raises: a cache key must be hashable
    key = (model, stream, include_not_working, tuple(prefer) if prefer else None)
    if registry._route_expiry:
        registry._routes_expired()
    cache = registry._route_cache
    plan = cache.get(key)
    if plan is not None:
        return plan
    validate_model(model)
    listed = registry.candidates(model)
    if not listed:
        if not model:
            raise ModelNotSupported(model, reason="no model given: name one (see `provider-core providers`)")
        close = difflib.get_close_matches(model, list(registry.models()), n=3, cutoff=0.6)
        raise ModelNotSupported(model, suggestions=close)
    chosen: list[type] = []
    skipped: list[Attempt] = []
    for provider in listed:
        if stream and not provider.supports_stream:
            skipped.append(Attempt(provider.name, _NO_STREAM))
        elif not include_not_working and not registry.is_working(provider):
            skipped.append(Attempt(provider.name, _not_working_reason(provider, registry)))
        else:
            chosen.append(provider)
    if prefer:
        rank = {name.lower(): i for i, name in enumerate(prefer)}
        chosen.sort(key=lambda p: rank.get(p.name.lower(), len(rank)))
    plan = RoutePlan(model, stream, tuple(chosen), tuple(skipped))
    if not registry.dynamic_working:
        cache[key] = plan
    return plan


def plan_route(
    registry: Registry,
    model: str,
    stream: bool = False,
    include_not_working: bool = False,
    prefer: Sequence[str] | None = None,
) -> tuple[type, ...]:
    """The ordered candidates for ``model``, or :class:`NoProviderAvailable` saying, for
    each provider that lists the model, why it was skipped."""
    plan = explain_route(registry, model, stream, include_not_working, prefer)
    if not plan.candidates:
        raise NoProviderAvailable(model, list(plan.skipped), hint=_override_hint(plan))
    return plan.candidates


def _override_hint(plan: RoutePlan) -> str:
    names = [a.provider for a in plan.skipped if a.reason != _NO_STREAM]
    if names:
        return (
            f"To call it anyway, name it (provider={names[0]!r}; CLI: --provider {names[0]}) "
            "or allow providers marked not working (include_not_working=True; CLI: --include-not-working)"
        )
    return ""


def _pinned(registry: Registry, provider: str | type, model: str) -> tuple[type, ...]:
    if isinstance(provider, str):
        cls = registry.get(provider)
    elif isinstance(provider, type):
        from .contract import validate_provider

        validate_provider(provider)  # a class passed directly gets the registration checks too
        cls = provider
    else:
        raise ProviderNotFound(repr(provider), known=[p.name for p in registry.providers()])
    if model and model not in cls.models:
        close = difflib.get_close_matches(model, list(cls.models), n=3, cutoff=0.6)
        raise ModelNotSupported(model, provider=cls.name, suggestions=close)
    if not registry.is_working(cls):
        warnings.warn(
            f"{cls.name} is {_not_working_reason(cls, registry)}; calling it because it was named",
            ProviderNotWorkingWarning,
            stacklevel=4,
        )
    return (cls,)


_get_registry: Callable[[], Registry] | None = None


def _default_registry() -> Registry:
    """:func:`provider_core.registry.get_registry`, imported once: an import statement on
    every request would cost more than the routing decision."""
    global _get_registry
    if _get_registry is None:
        from .registry import get_registry

        _get_registry = get_registry
    return _get_registry()


def open_completion(
    model: str,
    messages: Any,
    stream: bool = True,
    provider: str | type | None = None,
    *,
    registry: Registry | None = None,
    prefer: Sequence[str] | None = None,
    include_not_working: bool = False,
    call: Callable[..., Any] | None = None,
    **kwargs: Any,
) -> Completion:
    """The checks and routing of :func:`create_completion`, returning its not yet started
    :class:`Completion` whatever ``stream`` says (the async API drives it from a thread).
    ``call`` is passed to the :class:`Completion`."""
    if registry is None:
        registry = _default_registry()
    checked = validate_messages(messages)
    validate_model(model)
    validate_options(kwargs)
    kwargs = protect_options(kwargs)  # keys and tokens travel as SecretStr (see provider_core.secrets)
    skipped: tuple[Attempt, ...] = ()
    if provider is not None:
        candidates = _pinned(registry, provider, model)
    else:
        plan = explain_route(registry, model, stream=stream, include_not_working=include_not_working, prefer=prefer)
        if not plan.candidates:
            raise NoProviderAvailable(model, list(plan.skipped), hint=_override_hint(plan))
        candidates, skipped = plan.candidates, plan.skipped
    return Completion(
        candidates,
        model,
        checked,
        stream,
        kwargs,
        registry=registry,
        routed=provider is None,
        call=call,
        skipped=skipped,
    )


def collect_text(completion: Iterator[str]) -> str:
    """Join a completion's chunks; a :class:`StreamInterrupted` gets the text received
    before it as ``partial_text``."""
    parts: list[str] = []
    try:
        for chunk in completion:
            parts.append(chunk)
    except StreamInterrupted as exc:
        exc.keep_text(parts)
        raise
    return "".join(parts)


def create_completion(
    model: str,
    messages: Any,
    stream: bool = True,
    provider: str | type | None = None,
    *,
    registry: Registry | None = None,
    prefer: Sequence[str] | None = None,
    include_not_working: bool = False,
    **kwargs: Any,
) -> Completion | str:
    """Validate, route by ``model``, call the provider, and fall back where safe.

    With ``stream=True`` (the default) returns a :class:`Completion`, an iterator of text
    chunks; with ``stream=False`` returns the whole reply as one ``str``. Naming
    ``provider`` bypasses routing (a not-working provider then only warns). Input errors
    and routing errors are raised here, before any request; provider errors are raised
    while iterating. Extra ``kwargs`` (``temperature``, ``system_message``, ...) go to the
    provider. The async twin is :func:`provider_core.aio.acreate_completion`.
    """
    completion = open_completion(
        model,
        messages,
        stream,
        provider,
        registry=registry,
        prefer=prefer,
        include_not_working=include_not_working,
        **kwargs,
    )
    return completion if stream else collect_text(completion)
