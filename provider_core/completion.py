"""The library's front door: :func:`create_completion` checks the input once, routes by
model name (or takes the named provider), and runs the candidates in a
:class:`~provider_core.fallback.Completion`, which falls back only before the first chunk.

Input and routing errors are raised here, before any request; provider errors while the
completion is read. The async twin is :func:`provider_core.aio.acreate_completion`, which
opens its completion here too (:func:`open_completion`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .contract import validate_provider
from .defaults import get_registry
from .errors import Attempt, NoProviderAvailable, ProviderNotFound, ProviderNotWorkingWarning, StreamInterrupted
from .fallback import Completion
from .messages import resolve_model, validate_messages
from .options import KNOWN_OPTIONS, NOTHING, needs, validate_options
from .reply import ChatResult
from .routing import override_hint
from .secrets import protect_options

if TYPE_CHECKING:
    from .registry import Registry

__all__ = ["collect_text", "create_completion", "open_completion", "request_options"]


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
    if not registry.is_working(cls, model):
        warnings.warn(
            f"{cls.name} is {registry.router.not_working_reason(cls, model)}; calling it because it was named",
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
    **options: Any,
) -> Completion:
    """The checks and routing of :func:`create_completion`, returning its not yet started
    :class:`Completion` whatever ``stream`` says (the async API drives it from a thread).
    ``options`` are the request's options, known and the provider's own; a known one given
    as ``None`` is not sent. ``call`` is passed to the :class:`Completion`."""
    if registry is None:
        registry = get_registry()
    checked = validate_messages(messages)  # the model is checked by routing, or resolve_model
    kwargs = options
    if None in options.values():  # a known option left at None is not sent
        kwargs = {name: value for name, value in options.items() if value is not None or name not in KNOWN_OPTIONS}
    validate_options(kwargs)
    need = needs(checked, kwargs)
    kwargs = protect_options(kwargs)  # keys and tokens travel as SecretStr (see provider_core.secrets)
    skipped: tuple[Attempt, ...] = ()
    if provider is not None:
        cls, model = _pinned(registry, provider, model)
        lacks = need.missing(cls) if need is not NOTHING else None
        if lacks is not None:
            raise NoProviderAvailable(model, [Attempt(cls.name, lacks)])
        candidates: tuple[type, ...] = (cls,)
        models: tuple[str, ...] = (model,)
        tracker = None
    else:
        router = registry.load().router
        plan = router.plan(model, stream=stream, include_not_working=include_not_working, prefer=prefer, needs=need)
        if not plan.candidates:
            raise NoProviderAvailable(model, list(plan.skipped), hint=override_hint(plan))
        candidates, models = router.order(plan)
        skipped = plan.skipped
        tracker = router.stats if router.measures() else None
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
        models=models,
        tracker=tracker,
    )


def request_options(
    tools: Any,
    tool_choice: Any,
    response_format: Any,
    max_tokens: Any,
    temperature: Any,
    top_p: Any,
    stop: Any,
    seed: Any,
    options: dict[str, Any],
) -> dict[str, Any]:
    """The keywords of one request: the provider's own ``options`` (the caller's
    ``**options``, a new dict of this call, filled in) and the known options given (not
    ``None``); shared by the sync and async signatures."""
    # one test per option: this runs on every request
    if tools is not None:
        options["tools"] = tools
    if tool_choice is not None:
        options["tool_choice"] = tool_choice
    if response_format is not None:
        options["response_format"] = response_format
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    if temperature is not None:
        options["temperature"] = temperature
    if top_p is not None:
        options["top_p"] = top_p
    if stop is not None:
        options["stop"] = stop
    if seed is not None:
        options["seed"] = seed
    return options


def collect_text(completion: Completion) -> ChatResult:
    """The whole reply of ``completion`` as a :class:`~provider_core.reply.ChatResult`; a
    :class:`StreamInterrupted` gets the text received before it as ``partial_text``."""
    parts: list[str] = []
    try:
        for chunk in completion:
            parts.append(chunk)
    except StreamInterrupted as exc:
        exc.keep_text(parts)
        raise
    return ChatResult(
        "".join(parts),
        tool_calls=completion.tool_calls,
        usage=completion.usage,
        finish_reason=completion.finish_reason,
        provider=completion.provider,
    )


def create_completion(
    model: str,
    messages: Any,
    stream: bool = True,
    provider: str | type | None = None,
    *,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: str | dict[str, Any] | None = None,
    response_format: dict[str, Any] | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    stop: str | list[str] | None = None,
    seed: int | None = None,
    registry: Registry | None = None,
    prefer: Sequence[str] | None = None,
    include_not_working: bool = False,
    **options: Any,
) -> Completion | ChatResult:
    """Validate, route by ``model``, call the provider, and fall back where safe.

    With ``stream=True`` (the default) returns a :class:`Completion`, an iterator of text
    chunks (tool calls, usage and the finish reason on it afterwards, or all of them in
    order from :meth:`Completion.events`); with ``stream=False`` returns the whole reply as
    a :class:`~provider_core.reply.ChatResult`, a ``str`` with ``tool_calls``, ``usage``,
    ``finish_reason`` and ``provider``. Naming
    ``provider`` bypasses routing (a not-working provider then only warns).

    ``tools``, ``tool_choice``, ``response_format``, ``max_tokens``, ``temperature``,
    ``top_p``, ``stop`` and ``seed`` take OpenAI's shapes; they are checked here and reach
    the provider as keywords (one left ``None`` is not sent). Routing skips a provider that
    lacks what the request needs (tools, images, JSON output). Other ``options`` are the
    provider's own and go to it unchecked. Input errors and routing errors are raised here,
    before any request; provider errors while iterating. The async twin is
    :func:`provider_core.aio.acreate_completion`.
    """
    given = request_options(tools, tool_choice, response_format, max_tokens, temperature, top_p, stop, seed, options)
    completion = open_completion(
        model,
        messages,
        stream,
        provider,
        registry=registry,
        prefer=prefer,
        include_not_working=include_not_working,
        **given,
    )
    return completion if stream else collect_text(completion)
