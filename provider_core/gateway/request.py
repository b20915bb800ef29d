"""Reading an OpenAI chat-completions request body into what the core takes.

Only the request's *shape* is checked here (types of the top-level fields, content parts,
arguments the gateway cannot honour); the messages themselves are validated by the core
(:func:`provider_core.messages.validate_messages`), whose errors name the message and field.

Accepted and passed on: ``model``, ``messages``, ``stream``, ``temperature`` and the
gateway's own ``provider`` (pin one provider, as ``create_completion(provider=...)``).
Accepted and ignored (they cannot change what a provider-core provider sends):
:data:`IGNORED`. Refused with a 400 naming the field, because ignoring them would change the
answer's meaning: tools and functions, ``response_format`` other than text, ``logprobs``,
``stop``, ``logit_bias``, ``n`` other than 1, and any argument OpenAI does not define.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .errors import RequestError

__all__ = ["IGNORED", "MAX_DEPTH", "ChatRequest", "parse_chat_request", "read_json"]

#: Deepest nesting of arrays and objects accepted in a request body (tool schemas included).
MAX_DEPTH = 64

IGNORED = frozenset(
    {
        "frequency_penalty",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "parallel_tool_calls",
        "presence_penalty",
        "seed",
        "service_tier",
        "store",
        "stream_options",
        "top_p",
        "user",
    }
)
#: Refused unless absent, null, false or empty.
UNSUPPORTED = {
    "tools": "tool calls are not supported by the gateway",
    "tool_choice": "tool calls are not supported by the gateway",
    "functions": "function calls are not supported by the gateway",
    "function_call": "function calls are not supported by the gateway",
    "logprobs": "logprobs are not supported by the gateway",
    "top_logprobs": "logprobs are not supported by the gateway",
    "stop": "stop sequences are not supported by the gateway",
    "logit_bias": "logit_bias is not supported by the gateway",
    "modalities": "only text output is supported by the gateway",
    "audio": "only text output is supported by the gateway",
}
KNOWN = frozenset({"model", "messages", "stream", "temperature", "provider", "n", "response_format"})

_NUMBER = (int, float)
#: The JSON type each known argument must have when it is not null, and its name in errors.
TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "tools": ((list,), "an array"),
    "tool_choice": ((str, dict), "a string or an object"),
    "functions": ((list,), "an array"),
    "function_call": ((str, dict), "a string or an object"),
    "logprobs": ((bool,), "true or false"),
    "top_logprobs": ((int,), "an integer"),
    "stop": ((str, list), "a string or an array of strings"),
    "logit_bias": ((dict,), "an object"),
    "modalities": ((list,), "an array"),
    "audio": ((dict,), "an object"),
    "frequency_penalty": (_NUMBER, "a number"),
    "presence_penalty": (_NUMBER, "a number"),
    "max_tokens": ((int,), "a positive integer"),
    "max_completion_tokens": ((int,), "a positive integer"),
    "metadata": ((dict,), "an object"),
    "parallel_tool_calls": ((bool,), "true or false"),
    "seed": ((int,), "an integer"),
    "service_tier": ((str,), "a string"),
    "store": ((bool,), "true or false"),
    "stream_options": ((dict,), "an object"),
    "top_p": (_NUMBER, "a number"),
    "user": ((str,), "a string"),
    "temperature": (_NUMBER, "a number"),
    "response_format": ((dict,), "an object"),
    "n": ((int,), "an integer"),
}
_POSITIVE = frozenset({"max_tokens", "max_completion_tokens"})


def _check_types(body: dict[str, Any]) -> None:
    """Each known argument that is not null has its JSON type (``true`` is no number)."""
    for name, (kinds, what) in TYPES.items():
        value = body.get(name)
        if value is None:
            continue
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise RequestError(f"'{name}' must be {what}, got {_json_name(value)}", param=name)
        if name in _POSITIVE and value <= 0:
            raise RequestError(f"'{name}' must be {what}, got {value}", param=name)
        if name == "stop" and isinstance(value, list) and not all(isinstance(s, str) for s in value):
            raise RequestError(f"'stop' must be {what}", param=name)


def _json_name(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}
    return names.get(type(value), "an object")


def read_json(raw: bytes) -> Any:
    """The request body decoded, or :class:`RequestError` (400) for anything that is not
    plain JSON: not UTF-8, malformed, nested deeper than :data:`MAX_DEPTH`, or carrying a
    lone surrogate (``"\\ud800"`` is legal JSON, but no text a provider can be sent)."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise RequestError(f"the request body is nested too deeply (at most {MAX_DEPTH} levels)") from None
    except (ValueError, UnicodeDecodeError):
        raise RequestError("the request body is not valid JSON") from None
    _check_tree(value)
    return value


def _check_tree(value: Any) -> None:
    """Walk the decoded body without recursion: depth, and strings that cannot be UTF-8."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise RequestError(f"the request body is nested too deeply (at most {MAX_DEPTH} levels)")
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_text(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def _check_text(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise RequestError(
                f"the request body contains a lone surrogate (U+{ord(text[exc.start]):04X}), which is not text"
            ) from None


@dataclass(frozen=True)
class ChatRequest:
    """A chat request in the core's terms; ``options`` go to ``create_completion`` as keywords."""

    model: str
    messages: list[dict[str, Any]]
    stream: bool = False
    provider: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


def _content(value: Any, where: str) -> Any:
    """Content parts (``[{"type": "text", "text": ...}]``) joined into one string."""
    if not isinstance(value, list):
        return value
    texts = []
    for j, part in enumerate(value):
        if not isinstance(part, dict) or part.get("type") != "text":
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise RequestError(f"only text content parts are supported, got {kind!r}", param=f"{where}[{j}].type")
        text = part.get("text")
        if not isinstance(text, str):
            raise RequestError("a text content part needs a string 'text'", param=f"{where}[{j}].text")
        texts.append(text)
    return "".join(texts)


def _message(raw: Any, i: int) -> Any:
    if not isinstance(raw, dict):
        return raw  # the core names it: messages[i]: Input should be a valid dictionary
    message = {k: v for k, v in raw.items() if v is not None}
    if message.get("role") == "developer":
        message["role"] = "system"
    if "content" in message:
        message["content"] = _content(message["content"], f"messages[{i}].content")
    return message


def _refuse_unsupported(body: dict[str, Any]) -> None:
    for name, why in UNSUPPORTED.items():
        value = body.get(name)
        if value is not None and value is not False and value != [] and value != {}:
            raise RequestError(why, param=name, code="unsupported_parameter")
    fmt = body.get("response_format")
    if fmt is not None and not (isinstance(fmt, dict) and fmt.get("type") == "text"):
        raise RequestError("only the 'text' response_format is supported", param="response_format")
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise RequestError(f"n must be 1 (one choice per request), got {n!r}", param="n")


def parse_chat_request(body: Any) -> ChatRequest:
    """Turn a decoded JSON body into a :class:`ChatRequest`, or raise :class:`RequestError`."""
    if not isinstance(body, dict):
        raise RequestError(f"the request body must be a JSON object, got {type(body).__name__}")
    unknown = sorted(k for k in body if k not in KNOWN and k not in IGNORED and k not in UNSUPPORTED)
    if unknown:
        raise RequestError(f"unrecognized request argument: {unknown[0]!r}", param=unknown[0])
    _check_types(body)
    _refuse_unsupported(body)
    model = body.get("model")
    if not isinstance(model, str):
        raise RequestError("'model' is required and must be a string", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise RequestError("'messages' is required and must be a list of messages", param="messages")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise RequestError("'stream' must be true or false", param="stream")
    provider = body.get("provider")
    if provider is not None and (not isinstance(provider, str) or not provider):
        raise RequestError("'provider' must be a provider name", param="provider")
    options = {}
    if body.get("temperature") is not None:
        options["temperature"] = body["temperature"]
    return ChatRequest(
        model=model,
        messages=[_message(m, i) for i, m in enumerate(messages)],
        stream=bool(stream),
        provider=provider,
        options=options,
    )
