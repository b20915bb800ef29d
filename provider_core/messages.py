"""Validation of what a caller sends: messages, model ids and options, with pydantic.

Everything is checked before any provider is called (the options in
:mod:`provider_core.options`); a failure raises
:class:`~provider_core.errors.InvalidMessages` naming each bad message and field, or
:class:`~provider_core.errors.ModelNotSupported` for a model id that cannot be one.
pydantic is imported on the first validation, not at ``import provider_core``.
"""

from __future__ import annotations

import threading
from typing import Any

from .errors import Attempt, InvalidMessages, ModelNotSupported, NoProviderAvailable
from .options import needs, validate_options

__all__ = [
    "MAX_MODEL_LENGTH",
    "MAX_PROMPT_CHARS",
    "ValidatedMessages",
    "check_call",
    "resolve_model",
    "text_only",
    "validate_messages",
    "validate_model",
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

    class FunctionModel(TypedDict):
        __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

        name: StrictStr
        arguments: StrictStr

    class ToolCallModel(TypedDict):
        __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

        id: StrictStr
        type: Literal["function"]
        function: FunctionModel

    class MessageModel(TypedDict):
        __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

        role: Literal["system", "user", "assistant", "tool"]
        content: NotRequired[Any]  # a str, content parts or None: checked by _check_content
        name: NotRequired[StrictStr]
        tool_call_id: NotRequired[StrictStr]
        tool_calls: NotRequired[Annotated[list[ToolCallModel], Field(min_length=1)]]

    return TypeAdapter(Annotated[list[MessageModel], Field(min_length=1)])


def _location(loc: tuple[Any, ...]) -> str:
    text = "messages"
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


_DETAILS = ("auto", "low", "high")


def _check_content(index: int, message: dict[str, Any], errors: list[tuple[str, str]]) -> int:
    """Check one message's content (and what goes with it); returns its length in characters."""
    where = f"messages[{index}]"
    role = message.get("role")
    if "tool_calls" in message and role != "assistant":
        errors.append((f"{where}.tool_calls", "only an assistant message carries tool_calls"))
    if "tool_call_id" in message and role != "tool":
        errors.append((f"{where}.tool_call_id", "only a tool message carries tool_call_id"))
    content = message.get("content")
    if type(content) is str:
        return len(content)
    if content is None:
        if role == "assistant" and message.get("tool_calls"):
            return 0
        errors.append(
            (f"{where}.content", "Field required" if "content" not in message else "Input should be a valid string")
        )
        return 0
    if not isinstance(content, list) or not content:
        kind = "an empty list" if isinstance(content, list) else type(content).__name__
        errors.append((f"{where}.content", f"Input should be a valid string or a list of content parts, got {kind}"))
        return 0
    size = 0
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str) and set(part) == {"type", "text"}:
            size += len(part["text"])
        elif kind == "image_url" and role == "user" and _image_ok(part):
            size += len(part["image_url"]["url"])
        elif kind == "image_url" and role != "user":
            errors.append((f"{at}.type", f"image parts belong in user messages, not in a {role} message"))
        else:
            errors.append((at, _part_problem(part)))
    return size


def _image_ok(part: dict[str, Any]) -> bool:
    image = part.get("image_url")
    return (
        set(part) == {"type", "image_url"}
        and isinstance(image, dict)
        and isinstance(image.get("url"), str)
        and bool(image["url"])
        and set(image) <= {"url", "detail"}
        and image.get("detail", "auto") in _DETAILS
    )


def _part_problem(part: Any) -> str:
    if not isinstance(part, dict):
        return f"a content part must be an object, got {type(part).__name__}"
    kind = part.get("type")
    if kind == "text":
        return 'a text part is {"type": "text", "text": str}, nothing else'
    if kind == "image_url":
        return 'an image part is {"type": "image_url", "image_url": {"url": str, "detail"?: auto|low|high}}'
    return f"a content part's type is 'text' or 'image_url', got {kind!r}"


def validate_messages(messages: Any) -> ValidatedMessages:
    """Check ``messages`` and return them as a list of plain dicts (OpenAI's shapes).

    A message has a ``role`` (``system``, ``user``, ``assistant`` or ``tool``), a
    ``content`` (a ``str``, or a list of content parts ``{"type": "text", "text": ...}`` /
    ``{"type": "image_url", "image_url": {"url": ..., "detail"?: ...}}``, images in user
    messages only; ``None`` only for an assistant message with ``tool_calls``), and may have
    a ``name``; an assistant message may carry ``tool_calls`` (``[{"id", "type":
    "function", "function": {"name", "arguments"}}]``), a tool message ``tool_call_id``.
    No other keys. The list must not be empty and its contents together must stay under
    :data:`MAX_PROMPT_CHARS`. Every problem is reported with the message index and field.
    """
    global _adapter
    if _adapter is None:
        with _adapter_lock:
            if _adapter is None:
                _adapter = _build_adapter()
    from pydantic import ValidationError

    errors: list[tuple[str, str]] = []
    try:
        checked = _adapter.validate_python(messages)
    except ValidationError as exc:
        found: list[tuple[int, str, str]] = []  # (message index, where, why): sorted by message
        for err in exc.errors(include_url=False, include_input=False):
            reason = err["msg"]
            if err["type"] == "too_short" and not err["loc"]:
                reason = "at least one message is required"
            index = err["loc"][0] if err["loc"] and isinstance(err["loc"][0], int) else -1
            found.append((index, _location(err["loc"]), reason))
        for i, message in enumerate(messages if isinstance(messages, list) else ()):
            if isinstance(message, dict):  # the content's problems too, in the same report
                _check_content(i, message, errors)
                found += [(i, where, why) for where, why in errors]
                errors.clear()
        found.sort(key=lambda item: item[0])
        raise InvalidMessages([(where, why) for _, where, why in found]) from None
    total = sum(_check_content(i, message, errors) for i, message in enumerate(checked))
    if errors:
        raise InvalidMessages(errors)
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
    directly: the messages, the options (``stream`` aside), the model, resolved for
    ``provider``, and that ``provider`` has what the request needs (else
    :class:`~provider_core.errors.NoProviderAvailable` saying what it lacks). Returns
    ``(model, messages)``, text parts joined for a provider without ``supports_vision``;
    raises before anything is sent."""
    checked = validate_messages(messages)
    validate_options(options)
    model = resolve_model(provider, model)
    lacks = needs(checked, options).missing(provider)
    if lacks is not None:
        raise NoProviderAvailable(model, [Attempt(getattr(provider, "name", "?"), lacks)])
    return model, checked if getattr(provider, "supports_vision", False) else text_only(checked)


def text_only(messages: ValidatedMessages) -> ValidatedMessages:
    """``messages`` with every list of text parts joined into one ``str`` (for a provider
    without ``supports_vision``, which takes a ``str`` content; requests with images never
    reach one). The same object when no message has parts (the common case)."""
    for message in messages:
        if type(message.get("content")) is list:
            break
    else:
        return messages
    joined = ValidatedMessages()
    for message in messages:
        content = message.get("content")
        if type(content) is list:
            message = {**message, "content": "".join(part.get("text", "") for part in content)}
        joined.append(message)
    return joined
