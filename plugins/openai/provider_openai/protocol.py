"""The OpenAI chat-completions wire format: request bodies, replies, stream chunks, errors.

Pure functions over JSON values; no I/O. What a reply may look like is read leniently
(servers that speak "OpenAI-compatible" differ in the details), what it must carry is
checked, and anything unusable becomes a typed error naming the endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from provider_core.errors import InvalidMessages, UpstreamError

__all__ = [
    "UpstreamError",
    "build_body",
    "chunk_delta",
    "error_details",
    "message_text",
    "parse_error_body",
    "parse_model_list",
]

#: Keywords the plugin consumes itself; they never go into the request body.
LOCAL_KEYWORDS = frozenset(
    {"timeout", "proxy", "base_url", "system_message", "extra_headers", "api_key", "model", "messages", "stream"}
)


def build_body(model: str, messages: list[Any], stream: bool, options: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of ``POST {base}/chat/completions``.

    ``options`` are the caller's keywords: ``system_message`` becomes a leading system
    message (unless the messages start with one); the plugin's own keywords
    (:data:`LOCAL_KEYWORDS`) are left out; every other keyword with a value other than
    ``None`` (``temperature``, ``max_tokens``, ``stop``, ``top_p``, ``seed``, ...) is passed
    through for the endpoint to accept or refuse. A value that is not JSON is refused
    here, before anything is sent.
    """
    messages = [dict(m) for m in messages]
    system = options.get("system_message")
    if system is not None:
        if not isinstance(system, str):
            raise InvalidMessages([("system_message", f"must be a string, got {type(system).__name__}")])
        if not messages or messages[0].get("role") != "system":
            messages.insert(0, {"role": "system", "content": system})
    body: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
    bad = []
    for key, value in options.items():
        if key in LOCAL_KEYWORDS or value is None:
            continue
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            bad.append((key, f"cannot be sent as JSON: {exc}"))
            continue
        body[key] = value
    if bad:
        raise InvalidMessages(bad)
    return body


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def error_details(payload: Any) -> tuple[str, str | None, str | None] | None:
    """``(message, type, code)`` from an error object in any of the shapes servers use:
    ``{"error": {"message", "type", "code"}}`` (OpenAI, vLLM, OpenRouter, llama.cpp),
    ``{"error": "text"}`` (Ollama), ``{"message": ...}`` or ``{"detail": ...}``; else ``None``."""
    if not isinstance(payload, Mapping):
        return None
    error = payload.get("error", payload)
    if isinstance(error, str) and error:
        return error, None, None
    if not isinstance(error, Mapping):
        return None
    message = _text(error.get("message")) or _text(error.get("detail")) or _text(payload.get("detail"))
    if message is None:
        if isinstance(payload.get("detail"), (list, dict)):  # e.g. FastAPI's validation errors
            message = json.dumps(payload["detail"])[:500]
        else:
            return None
    code = error.get("code")
    return message, _text(error.get("type")), str(code) if code is not None and code != "" else None


def parse_error_body(body: bytes) -> tuple[str, str | None, str | None] | None:
    """The ``parse_error`` callback given to the transport: an error body's message,
    type and code, or ``None`` when it is not JSON of a known shape."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return error_details(payload)


def chunk_delta(payload: Any) -> tuple[str, str | None]:
    """``(text, finish_reason)`` of one streamed chunk (``choices[0].delta.content``).

    A chunk without choices (a usage report) or without content (the role, a tool call)
    gives ``""``. Raises ``ValueError`` for a chunk that is not an object.
    """
    if not isinstance(payload, Mapping):
        raise ValueError(f"a stream chunk must be a JSON object, got {type(payload).__name__}")
    choice = _first_choice(payload)
    if choice is None:
        return "", None
    delta = choice.get("delta")
    text = delta.get("content") if isinstance(delta, Mapping) else None
    if text is None and isinstance(choice.get("text"), str):  # legacy completions-style chunk
        text = choice["text"]
    finish = choice.get("finish_reason")
    return (text if isinstance(text, str) else ""), (finish if isinstance(finish, str) and finish else None)


def message_text(payload: Any) -> str:
    """The text of a non-streamed reply (``choices[0].message.content``; ``""`` when the
    model answered with no content, e.g. only a tool call). Raises ``ValueError`` when
    the reply has no choices at all."""
    if not isinstance(payload, Mapping):
        raise ValueError(f"the reply must be a JSON object, got {type(payload).__name__}")
    choice = _first_choice(payload)
    if choice is None:
        raise ValueError("the reply has no choices")
    message = choice.get("message")
    text = message.get("content") if isinstance(message, Mapping) else choice.get("text")
    return text if isinstance(text, str) else ""


def _first_choice(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    choices = payload.get("choices")
    if not isinstance(choices, list):
        return None
    for choice in choices:
        if isinstance(choice, Mapping) and choice.get("index", 0) == 0:
            return choice
    return None


def parse_model_list(payload: Any) -> list[str]:
    """The model ids of a ``GET /models`` reply: ``{"data": [{"id": ...}, ...]}`` (also
    accepted: ``{"models": [...]}`` and plain strings in the list). Raises ``ValueError``
    for a reply without such a list; duplicates and unusable ids are dropped."""
    items = None
    if isinstance(payload, Mapping):
        items = payload.get("data")
        if not isinstance(items, list):
            items = payload.get("models")
    elif isinstance(payload, list):
        items = payload
    if not isinstance(items, list):
        raise ValueError("the reply has no list of models ('data')")
    ids: dict[str, None] = {}
    for item in items:
        model = item.get("id") or item.get("model") or item.get("name") if isinstance(item, Mapping) else item
        if isinstance(model, str) and model and model.isprintable() and len(model) <= 256:
            ids[model] = None
    return list(ids)
