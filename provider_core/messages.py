"""Validation of what a caller sends: messages, model ids and options, with pydantic.

Everything is checked before any provider is called; a failure raises
:class:`~provider_core.errors.InvalidMessages` naming each bad message and field, or
:class:`~provider_core.errors.ModelNotSupported` for a model id that cannot be one.
pydantic is imported on the first validation, not at ``import provider_core``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import Any

from .errors import InvalidMessages, ModelNotSupported

__all__ = [
    "MAX_MODEL_LENGTH",
    "MAX_PROMPT_CHARS",
    "ValidatedMessages",
    "check_call",
    "resolve_model",
    "validate_messages",
    "validate_model",
    "validate_options",
]


class ValidatedMessages(list):  # type: ignore[type-arg]
    """Messages the core has checked, together with the options and model of their call.

    :func:`provider_core.create_completion` hands them to a provider as they are; a
    provider's ``create_completion`` called with anything else checks its input first
    (:class:`~provider_core.provider.AbstractProvider` does it for every subclass, with
    :func:`check_call`), so the input is validated exactly once either way."""

    __slots__ = ()


#: Total characters of content accepted in one request (about 8 MB of UTF-8 at most).
MAX_PROMPT_CHARS = 2_000_000
#: Longest model id accepted.
MAX_MODEL_LENGTH = 256

_adapter: Any = None
_adapter_lock = threading.Lock()


def _build_adapter() -> Any:
    from typing import Annotated, Literal

    from pydantic import ConfigDict, Field, StrictStr, TypeAdapter
    from typing_extensions import NotRequired, TypedDict

    class MessageModel(TypedDict):
        __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

        role: Literal["system", "user", "assistant", "tool"]
        content: StrictStr
        name: NotRequired[StrictStr]
        tool_call_id: NotRequired[StrictStr]

    return TypeAdapter(Annotated[list[MessageModel], Field(min_length=1)])


def _location(loc: tuple[Any, ...]) -> str:
    text = "messages"
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def validate_messages(messages: Any) -> ValidatedMessages:
    """Check ``messages`` and return them as a list of plain dicts.

    A message is ``{"role": "system" | "user" | "assistant" | "tool", "content": str}``,
    optionally with ``name`` / ``tool_call_id``; no other keys. The list must not be
    empty and its contents together must stay under :data:`MAX_PROMPT_CHARS`.
    """
    global _adapter
    if _adapter is None:
        with _adapter_lock:
            if _adapter is None:
                _adapter = _build_adapter()
    from pydantic import ValidationError

    try:
        checked = _adapter.validate_python(messages)
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False, include_input=False):
            reason = err["msg"]
            if err["type"] == "too_short" and not err["loc"]:
                reason = "at least one message is required"
            errors.append((_location(err["loc"]), reason))
        raise InvalidMessages(errors) from None
    total = sum(len(m["content"]) for m in checked)
    if total > MAX_PROMPT_CHARS:
        raise InvalidMessages(
            [("messages", f"content totals {total:,} characters, over the {MAX_PROMPT_CHARS:,} limit")]
        )
    return ValidatedMessages(checked)


def validate_model(model: Any) -> str:
    """Check that ``model`` can be a model id: a string, at most :data:`MAX_MODEL_LENGTH`
    characters, no control characters. Empty is allowed (a provider's default model)."""
    if not isinstance(model, str):
        raise ModelNotSupported(repr(model), reason=f"model must be a string, got {type(model).__name__}")
    if len(model) > MAX_MODEL_LENGTH:
        raise ModelNotSupported(model[:40] + "...", reason=f"model id is longer than {MAX_MODEL_LENGTH} characters")
    if not model.isprintable():
        raise ModelNotSupported(model, reason=f"model id {model!r} contains control characters")
    return model


def validate_options(options: Mapping[str, Any]) -> None:
    """Check the options the core knows: ``temperature`` is a number in [0, 2]."""
    if "temperature" in options and options["temperature"] is not None:
        t = options["temperature"]
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or not 0 <= t <= 2:
            raise InvalidMessages([("temperature", f"must be a number in [0, 2], got {t!r}")])


def resolve_model(provider: type, model: Any) -> str:
    """The model ``provider`` is asked for: ``model`` checked (:func:`validate_model`), an
    empty one replaced by its ``default_model``; :class:`ModelNotSupported` (with close
    matches) for one it does not list. A provider listing no model at all (one whose model
    list could not be fetched) is not second-guessed."""
    validate_model(model)
    name = getattr(provider, "name", None)
    if not model:
        default = getattr(provider, "default_model", None)
        if not default:
            raise ModelNotSupported("", provider=name, reason=f"no model given, and {name} has no default_model")
        return str(default)
    models = getattr(provider, "models", None) or {}
    if models and model not in models:
        import difflib

        close = difflib.get_close_matches(model, list(models), n=3, cutoff=0.6)
        raise ModelNotSupported(model, provider=name, suggestions=close)
    return str(model)


def check_call(provider: type, model: Any, messages: Any, options: dict[str, Any]) -> tuple[str, ValidatedMessages]:
    """Everything :func:`provider_core.create_completion` checks, for a provider called
    directly: the messages, the options (``stream`` aside) and the model, resolved for
    ``provider``. Returns ``(model, messages)``; raises before anything is sent."""
    checked = validate_messages(messages)
    validate_options({k: v for k, v in options.items() if k != "stream"})
    return resolve_model(provider, model), checked
