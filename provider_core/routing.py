"""Routing by model name, and the fallback loop behind :func:`create_completion`.

Order of candidates for a model: the providers that list it, highest ``priority`` first,
then by name (case-insensitive); ``prefer=[names]`` moves those to the front for one call.
A candidate is skipped when it is not working (static flag or ``provider_working`` hook)
unless ``include_not_working``, or when streaming is asked and it does not stream.

Fallback: a candidate that fails *before its first chunk* with an error whose
``fallback_ok`` is true (network, 5xx, 429, an empty reply, a broken plugin) hands over
to the next one, and a :class:`~provider_core.errors.FallbackWarning` says so. After the
first chunk nothing is switched: :class:`~provider_core.errors.StreamInterrupted`.
"""

from __future__ import annotations

import difflib
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import (
    Attempt,
    EmptyResponse,
    FallbackWarning,
    ModelNotSupported,
    NoProviderAvailable,
    ProviderConnectionError,
    ProviderContractError,
    ProviderError,
    ProviderNotFound,
    ProviderNotWorkingWarning,
    StreamInterrupted,
)
from .messages import validate_messages, validate_model, validate_options
from .secrets import protect_options, scrub, secret_values

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


def _why(exc: BaseException) -> str:
    if isinstance(exc, ProviderError):
        return f"{type(exc).__name__}: {exc}"
    return f"raised {type(exc).__name__}: {exc}"


def _interruption_cause(exc: BaseException, name: str) -> str:
    """Why a stream stopped, without repeating the provider's name or the exception class
    when the error already is the provider's own account of a network fault."""
    if isinstance(exc, (StreamInterrupted, ProviderConnectionError)):
        text, prefix = str(exc), f"{name}: "
        return text[len(prefix) :] if text.startswith(prefix) else text
    return _why(exc)


def _close(it: Any) -> None:
    close = getattr(it, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            pass


class _FallbackLoop:
    """The state of one completion's fallback loop, and the loop itself.

    Kept apart from :class:`Completion` so that the running generator references this
    object, never the :class:`Completion` that owns the generator: dropping the last
    reference to a completion then finalizes its generator at once (closing the response
    and its connection) instead of waiting for the cycle collector.
    """

    def __init__(
        self,
        model: str,
        kwargs: dict[str, Any],
        registry: Registry | None,
        routed: bool,
        call: Callable[..., Any] | None,
        skipped: Sequence[Attempt],
    ) -> None:
        self.model = model
        self.provider: str | None = None
        self.attempts: list[Attempt] = []
        self.skipped = tuple(skipped)
        self.received_chars = 0
        self._registry = registry
        self._routed = routed
        self._call = call
        #: the secret option values, redacted from every error and message this writes
        self._secrets = secret_values(kwargs)

    def _start(
        self, provider: type, model: str, messages: Any, stream: bool, kwargs: dict[str, Any]
    ) -> tuple[Any, str]:
        """Call ``provider`` and wait for its first non-empty chunk; return (iterator, chunk)."""
        if self._call is not None:
            result = self._call(provider, model, messages, stream, kwargs)
        else:
            result = provider.create_completion(model, messages, stream, **kwargs)
        if isinstance(result, (str, bytes)) or not hasattr(result, "__iter__"):
            raise ProviderContractError(
                f"{provider.name}.create_completion returned {type(result).__name__}, not an iterator of str",
                provider=provider.name,
                rule="result-iterator",
            )
        it = iter(result)
        try:
            for chunk in it:
                if not isinstance(chunk, str):
                    raise ProviderContractError(
                        f"{provider.name} yielded {type(chunk).__name__}, not str",
                        provider=provider.name,
                        rule="chunk-str",
                    )
                if chunk:
                    return it, chunk
        except BaseException:
            _close(it)
            raise
        _close(it)
        raise EmptyResponse(f"{provider.name} answered with no text", provider=provider.name)

    def _run(
        self, candidates: Sequence[type], model: str, messages: Any, stream: bool, kwargs: dict[str, Any]
    ) -> Iterator[str]:
        registry = self._registry
        report = registry.report_outcome if registry and registry.hook_caller("provider_outcome") else None
        gate = registry if registry and self._routed and registry.hook_caller("provider_attempt") else None
        started = 0.0
        for provider in candidates:
            if gate is not None and not gate.allow_attempt(provider):
                reason = gate.status_reason(provider) or "skipped by a provider_attempt hook"
                self.attempts.append(Attempt(provider.name, reason))
                continue
            if report is not None:
                started = time.perf_counter()
            try:
                it, first = self._start(provider, model, messages, stream, kwargs)
            except Exception as exc:
                scrub(exc, self._secrets)
                if report is not None:
                    report(provider, exc, time.perf_counter() - started)
                if isinstance(exc, ProviderError) and not exc.fallback_ok:
                    raise
                if len(candidates) == 1 and isinstance(exc, ProviderError):
                    raise  # one candidate: its own typed error says more than a summary
                self.attempts.append(Attempt(provider.name, _why(exc), exc))
                continue
            if report is not None:
                report(provider, None, time.perf_counter() - started)
            self.provider = provider.name
            if self.attempts:
                failed = "; ".join(str(a) for a in self.attempts)
                warnings.warn(f"fell back to {provider.name} after: {failed}", FallbackWarning, stacklevel=3)
            yield from self._relay(provider, it, first, report, started)
            return
        last = self.attempts[-1].error if self.attempts else None
        raise NoProviderAvailable(model, [*self.skipped, *self.attempts]) from last

    def _relay(self, provider: type, it: Any, first: str, report: Any = None, started: float = 0.0) -> Iterator[str]:
        chars = len(first)
        chunks = 1
        self.received_chars = chars
        try:
            yield first
            for chunk in it:
                if not isinstance(chunk, str):
                    raise ProviderContractError(
                        f"{provider.name} yielded {type(chunk).__name__}, not str",
                        provider=provider.name,
                        rule="chunk-str",
                    )
                if chunk:
                    chars += len(chunk)
                    chunks += 1
                    self.received_chars = chars
                    yield chunk
        except Exception as exc:
            scrub(exc, self._secrets)
            interrupted = StreamInterrupted(
                f"{provider.name} stopped after {chars:,} characters ({chunks} chunk{'s' if chunks != 1 else ''}): "
                f"{_interruption_cause(exc, provider.name)}",
                provider=provider.name,
                received_chars=chars,
                received_chunks=chunks,
            )
            interrupted.__cause__ = exc
            if report is not None:
                report(provider, interrupted, time.perf_counter() - started)
            raise interrupted from exc
        finally:
            self.received_chars = chars
            _close(it)


class Completion(Iterator[str]):
    """The streamed reply of :func:`create_completion`: iterate it for text chunks.

    ``provider`` names the provider that answered (set when its first chunk arrives);
    ``attempts`` lists the candidates that failed before it, each with why; ``skipped``
    the providers routing passed over (not working, not streaming), which the
    :class:`NoProviderAvailable` raised when every candidate fails lists first. ``close()``
    (or leaving a ``with`` block) stops the request and frees its connection.

    With a ``registry``, each attempt is reported to its ``provider_outcome`` hooks and,
    when ``routed``, first cleared with its ``provider_attempt`` hooks. ``call(provider,
    model, messages, stream, kwargs)`` replaces ``provider.create_completion(...)`` (the
    async API uses it for providers with a native async method).
    """

    def __init__(
        self,
        candidates: Sequence[type],
        model: str,
        messages: Any,
        stream: bool,
        kwargs: dict[str, Any],
        *,
        registry: Registry | None = None,
        routed: bool = True,
        call: Callable[..., Any] | None = None,
        skipped: Sequence[Attempt] = (),
    ):
        self._loop = _FallbackLoop(model, kwargs, registry, routed, call, skipped)
        # the generator references the loop, not this object: see _FallbackLoop
        self._gen = self._loop._run(candidates, model, messages, stream, kwargs)

    @property
    def model(self) -> str:
        return self._loop.model

    @property
    def provider(self) -> str | None:
        """The provider that answered, once its first chunk has arrived."""
        return self._loop.provider

    @property
    def attempts(self) -> list[Attempt]:
        """The candidates that failed (or were skipped by a hook) before one answered."""
        return self._loop.attempts

    @property
    def skipped(self) -> tuple[Attempt, ...]:
        """The providers routing passed over, each with why."""
        return self._loop.skipped

    @property
    def received_chars(self) -> int:
        """Characters delivered so far."""
        return self._loop.received_chars

    def __iter__(self) -> Completion:
        return self

    def __next__(self) -> str:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()

    def __enter__(self) -> Completion:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
        if parts or exc.partial_text is None:  # keep the partial text a provider attached itself
            exc.partial_text = "".join(parts)
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
