"""The library's front door: :func:`create_completion` checks the input once, routes by
model name (or takes the named provider), and runs the candidates in a
:class:`~provider_core.fallback.Completion`, which falls back only before the first chunk.

Input and routing errors are raised here, before any request; provider errors while the
completion is read. The async twin is :func:`provider_core.aio.acreate_completion`, which
opens its completion here too (:func:`open_completion`).

A model no provider lists may be one a live list has gained since it was last fetched:
:func:`create_completion` then asks the registry's model catalog to refresh the lists that
are stale, failed or never fetched (at most once per refresh interval,
:meth:`provider_core.catalog.ModelCatalog.refresh_for_model`) and routes again.
:func:`open_completion` never does: it sends nothing but the request (the async API and
the gateway call it on an event loop; the gateway refreshes on its own, in a thread).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .contract import validate_provider
from .defaults import get_registry
from .errors import (
    Attempt,
    ModelNotSupported,
    NoProviderAvailable,
    ProviderNotFound,
    ProviderNotWorkingWarning,
    StreamInterrupted,
)
from .fallback import Completion
from .messages import resolve_model, validate_messages, validate_model, validate_options
from .routing import override_hint
from .secrets import protect_options

if TYPE_CHECKING:
    from .registry import Registry

__all__ = ["collect_text", "create_completion", "open_completion"]


def _pinned(registry: Registry, provider: str | type, model: str) -> tuple[type, str]:
    """The provider named by the caller, and the model it is asked for."""
    if isinstance(provider, str):
        cls = registry.get(provider)
    elif isinstance(provider, type):
        validate_provider(provider)  # a class passed directly gets the registration checks too
        cls = provider
    else:
        raise ProviderNotFound(repr(provider), known=[p.name for p in registry.providers()])
    model = resolve_model(cls, model)
    if not registry.is_working(cls):
        warnings.warn(
            f"{cls.name} is {registry.router.not_working_reason(cls)}; calling it because it was named",
            ProviderNotWorkingWarning,
            stacklevel=4,
        )
    return cls, model


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
        registry = get_registry()
    checked = validate_messages(messages)  # the model is checked by routing, or resolve_model
    validate_options(kwargs)
    kwargs = protect_options(kwargs)  # keys and tokens travel as SecretStr (see provider_core.secrets)
    skipped: tuple[Attempt, ...] = ()
    if provider is not None:
        cls, model = _pinned(registry, provider, model)
        candidates: tuple[type, ...] = (cls,)
    else:
        plan = registry.load().router.plan(model, stream=stream, include_not_working=include_not_working, prefer=prefer)
        if not plan.candidates:
            raise NoProviderAvailable(model, list(plan.skipped), hint=override_hint(plan))
        candidates, skipped = plan.candidates, plan.skipped
    return Completion(
        candidates,
        model,
        checked,
        stream,
        kwargs,
        hooks=registry.hooks,
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
    provider. A model no provider lists first gets the model lists that are due refreshed
    (see the module docstring). The async twin is :func:`provider_core.aio.acreate_completion`.
    """
    registry = get_registry() if registry is None else registry
    options: dict[str, Any] = {"registry": registry, "prefer": prefer, "include_not_working": include_not_working}
    try:
        completion = open_completion(model, messages, stream, provider, **options, **kwargs)
    except ModelNotSupported as exc:
        if not _refreshed(registry, model, provider, exc):
            raise
        completion = open_completion(model, messages, stream, provider, **options, **kwargs)
    return completion if stream else collect_text(completion)


def _refreshed(registry: Registry, model: Any, provider: str | type | None, exc: ModelNotSupported) -> bool:
    """Whether refreshing the model lists that are due changed one (only for a model id
    that no provider, or not the one named, lists)."""
    if not isinstance(model, str) or not model or exc.model != model:
        return False
    try:
        validate_model(model)  # an id that cannot be one (control characters, too long) is refused as it is
    except ModelNotSupported:
        return False
    named = None
    if provider is not None:
        if not isinstance(provider, str):
            return False
        named = registry.get(provider)
    return registry.catalog.refresh_for_model(model, named)
