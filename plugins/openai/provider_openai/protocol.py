"""The OpenAI chat-completions wire format: request bodies, replies, stream chunks, errors.

Pure functions over JSON values; no I/O. What a reply may look like is read leniently
(servers that speak "OpenAI-compatible" differ in the details), what it must carry is
checked, and anything unusable becomes a typed error naming the endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from provider_core.errors import InvalidMessages, UpstreamError
from provider_core.events import FinishReason, ToolCall, Usage

__all__ = [
    "CHAT_ARGUMENTS",
    "UpstreamError",
    "build_body",
    "chunk_delta",
    "error_details",
    "finish_reason",
    "message_text",
    "parse_error_body",
    "parse_model_list",
    "read_chunk",
    "reply_items",
    "tool_call_parts",
    "usage_of",
]

#: Keywords the plugin consumes itself; they never go into the request body.
LOCAL_KEYWORDS = frozenset(
    {
        "timeout",
        "proxy",
        "base_url",
        "system_message",
        "extra_headers",
        "extra_body",
        "api_key",
        "model",
        "messages",
        "stream",
    }
)
#: The top-level arguments of OpenAI's chat completions a caller may give as keywords
#: (``model``, ``messages``, ``stream`` and ``stream_options`` are the plugin's to set). A
#: keyword outside this set is not sent (a provider ignores keywords it does not use, and
#: the plugin never sends an argument OpenAI does not define); a server's own arguments go
#: in ``extra_body={...}``, sent as they are.
CHAT_ARGUMENTS = frozenset(
    {
        "audio",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)
#: The body keys ``extra_body`` may not replace.
_OWN_KEYS = frozenset({"model", "messages", "stream", "stream_options"})


def build_body(
    model: str,
    messages: list[Any],
    stream: bool,
    options: Mapping[str, Any],
    *,
    max_tokens_param: str = "max_tokens",
    include_usage: bool = False,
) -> dict[str, Any]:
    """The JSON body of ``POST {base}/chat/completions``.

    ``messages`` go as they are (content parts, an assistant's ``tool_calls`` with their
    ``arguments`` strings, ``tool_call_id``: nothing re-serialized, nothing added).
    ``options`` are the caller's keywords: ``system_message`` becomes a leading system
    message (unless the messages start with one); the plugin's own keywords
    (:data:`LOCAL_KEYWORDS`) are left out; the arguments of :data:`CHAT_ARGUMENTS` with a
    value other than ``None`` go as given (``max_tokens`` under the name
    ``max_tokens_param``, for endpoints that want ``max_completion_tokens``); any other
    keyword is left out, and ``extra_body`` (a dict) is merged in last, unchecked.
    ``include_usage`` asks a stream for its token counts (``stream_options``, sent only
    when streaming). A value that is not JSON is refused here, before anything is sent.
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
        if key not in CHAT_ARGUMENTS:
            continue  # not an OpenAI argument: ignored, as the contract asks of unused keywords
        if key == "n" and value != 1:
            bad.append((key, "must be 1: the plugin reads one choice"))
            continue
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            bad.append((key, f"cannot be sent as JSON: {exc}"))
            continue
        body[max_tokens_param if key == "max_tokens" else key] = value
    extra = options.get("extra_body")
    if extra is not None:
        if not isinstance(extra, Mapping) or not all(isinstance(k, str) for k in extra):
            bad.append(("extra_body", "must be a dict of argument name to value"))
        elif _OWN_KEYS & set(extra):
            bad.append(("extra_body", f"must not set {sorted(_OWN_KEYS & set(extra))}"))
        else:
            try:
                json.dumps(extra, allow_nan=False)
                body.update(extra)
            except (TypeError, ValueError) as exc:
                bad.append(("extra_body", f"cannot be sent as JSON: {exc}"))
    if bad:
        raise InvalidMessages(bad)
    if stream and include_usage:
        body["stream_options"] = {"include_usage": True}
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
    text, finish, _, _ = read_chunk(payload)
    return text, finish


def read_chunk(payload: Any) -> tuple[str, str | None, Any, Any]:
    """``(text, finish_reason, tool_calls, usage)`` of one streamed chunk: the content
    delta (``""`` when none), the raw finish reason, and the raw ``delta.tool_calls`` list
    and ``usage`` object when present (else ``None``; see :func:`tool_call_parts`,
    :func:`usage_of`). Raises ``ValueError`` for a chunk that is not an object.

    The hot path of a stream (once per event): decoded JSON objects are ``dict``, so the
    checks are ``isinstance(..., dict)``, several times cheaper than ``Mapping``'s."""
    if not isinstance(payload, dict):
        raise ValueError(f"a stream chunk must be a JSON object, got {type(payload).__name__}")
    usage = payload.get("usage")
    choice = _first_choice(payload)
    if choice is None:
        return "", None, None, usage
    delta = choice.get("delta")
    calls = None
    if isinstance(delta, dict):
        text = delta.get("content")
        calls = delta.get("tool_calls")
    else:
        text = None
    if text is None and isinstance(choice.get("text"), str):  # legacy completions-style chunk
        text = choice["text"]
    finish = choice.get("finish_reason")
    return (
        text if isinstance(text, str) else "",
        finish if isinstance(finish, str) and finish else None,
        calls,
        usage,
    )


def _arguments(value: Any) -> str:
    """A call's arguments as sent: a string as it is; an object (some servers send one) as JSON."""
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value, ensure_ascii=False)


def tool_call_parts(calls: Any) -> Iterator[tuple[int, str | None, str | None, str]]:
    """``(index, id, name, arguments)`` for each item of a chunk's ``delta.tool_calls``
    (an item without ``index`` takes its position; a missing id or name is ``None``).
    Anything that is not a list of objects gives none."""
    if not isinstance(calls, list):
        return
    for position, call in enumerate(calls):
        if not isinstance(call, dict):
            continue
        index = call.get("index", position)
        function = call.get("function")
        if not isinstance(function, dict):
            function = {}
        name = function.get("name")
        yield (
            index if isinstance(index, int) else position,
            call.get("id") or None,
            name if isinstance(name, str) and name else None,
            _arguments(function.get("arguments")),
        )


def usage_of(value: Any) -> Usage | None:
    """A ``usage`` object as :class:`~provider_core.events.Usage`; ``None`` when it is
    missing or its counts are not whole numbers >= 0 (``total_tokens`` defaults to the sum)."""
    if not isinstance(value, Mapping):
        return None
    prompt, completion = value.get("prompt_tokens"), value.get("completion_tokens")
    total = value.get("total_tokens")
    counts = (prompt, completion) if total is None else (prompt, completion, total)
    if not all(type(n) is int and n >= 0 for n in counts):
        return None
    return Usage(prompt, completion, -1 if total is None else total)


#: Finish reasons other servers send, as OpenAI's (the rest are not reported).
_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "function_call": "tool_calls",
    "eos": "stop",
    "eos_token": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}


def finish_reason(value: str | None) -> FinishReason | None:
    """An upstream finish reason as a :class:`~provider_core.events.FinishReason` (OpenAI's
    four values and their common synonyms), else ``None``."""
    reason = _FINISH.get(value) if value else None
    return FinishReason(reason) if reason else None


def message_text(payload: Any) -> str:
    """The text of a non-streamed reply (``choices[0].message.content``; ``""`` when the
    model answered with no content, e.g. only a tool call). Raises ``ValueError`` when
    the reply has no choices at all."""
    message, _ = _message(payload)
    text = message.get("content")
    return text if isinstance(text, str) else ""


def _message(payload: Any) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    if not isinstance(payload, Mapping):
        raise ValueError(f"the reply must be a JSON object, got {type(payload).__name__}")
    choice = _first_choice(payload)
    if choice is None:
        raise ValueError("the reply has no choices")
    message = choice.get("message")
    if not isinstance(message, Mapping):
        message = {"content": choice.get("text")}  # legacy completions-style reply
    return message, choice


def reply_items(payload: Any) -> list[str | ToolCall | Usage | FinishReason]:
    """What a non-streamed reply carries, in the order a provider yields it: its text (if
    any), each tool call whole (``arguments`` exactly as sent; an id made up only when the
    server sent none), the usage and the finish reason. Raises ``ValueError`` when the
    reply has no choices at all."""
    message, choice = _message(payload)
    items: list[str | ToolCall | Usage | FinishReason] = []
    text = message.get("content")
    if isinstance(text, str) and text:
        items.append(text)
    calls = message.get("tool_calls")
    for position, call in enumerate(calls if isinstance(calls, list) else ()):
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str) or not function["name"]:
            continue
        call_id = call.get("id")
        items.append(
            ToolCall(
                call_id if isinstance(call_id, str) and call_id else f"call_{position}",
                function["name"],
                _arguments(function.get("arguments")) or "{}",
            )
        )
    usage = usage_of(payload.get("usage"))
    if usage is not None:
        items.append(usage)
    finish = finish_reason(choice.get("finish_reason"))
    if finish is not None:
        items.append(finish)
    return items


def _first_choice(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    choices = payload.get("choices")
    if not isinstance(choices, list):
        return None
    for choice in choices:
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
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
