"""Reading an OpenAI chat-completions request body into what the core takes.

Only the request's *shape* is checked here (types of the top-level fields, arguments the
gateway cannot honour); the messages and options themselves are validated by the core
(:mod:`provider_core.messages`, :mod:`provider_core.options`), whose errors name the
message and field.

Passed on to the core: ``model``, ``messages`` (content parts, images included, assistant
``tool_calls``, ``tool`` messages; ``developer`` is read as ``system``), ``stream``,
``tools``, ``tool_choice``, ``response_format``, ``max_tokens`` / ``max_completion_tokens``
(one name for the core), ``temperature``, ``top_p``, ``stop``, ``seed``, and the gateway's
own ``provider`` (pin one provider, as ``create_completion(provider=...)``).
``stream_options.include_usage`` is the gateway's (a last chunk with the usage).
Accepted and ignored, because they cannot change the answer: :data:`IGNORED`. Refused
with a 400 naming the parameter, because no provider-core provider is asked for them and
ignoring them would change the answer's meaning: :data:`UNSUPPORTED` unless absent, null,
false, zero or empty (``n`` other than 1, ``parallel_tool_calls`` false, and any argument
OpenAI does not define, likewise).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .errors import RequestError

__all__ = ["IGNORED", "MAX_DEPTH", "UNSUPPORTED", "ChatRequest", "parse_chat_request", "read_json"]

#: Deepest nesting of arrays and objects accepted in a request body (tool schemas included).
MAX_DEPTH = 64

#: Accepted and ignored: bookkeeping for OpenAI's own platform, no effect on the answer.
IGNORED = frozenset({"metadata", "prompt_cache_key", "safety_identifier", "service_tier", "store", "user"})
#: The options passed to the core as they are.
PASSED = ("tools", "tool_choice", "response_format", "temperature", "top_p", "stop", "seed")
#: Refused unless absent, null, false, zero or empty, each with why.
UNSUPPORTED = {
    "functions": "the legacy 'functions' are not supported: use 'tools'",
    "function_call": "the legacy 'function_call' is not supported: use 'tool_choice'",
    "logprobs": "logprobs are not supported by the gateway",
    "top_logprobs": "logprobs are not supported by the gateway",
    "logit_bias": "logit_bias is not supported by the gateway",
    "frequency_penalty": "frequency_penalty is not supported by the gateway",
    "presence_penalty": "presence_penalty is not supported by the gateway",
    "audio": "only text output is supported by the gateway",
    "prediction": "predicted outputs are not supported by the gateway",
    "reasoning_effort": "reasoning_effort is not supported by the gateway",
    "verbosity": "verbosity is not supported by the gateway",
    "web_search_options": "web search is not supported by the gateway",
}
KNOWN = frozenset(
    {*PASSED, "model", "messages", "stream", "stream_options", "provider", "n", "modalities"}
    | {"max_tokens", "max_completion_tokens", "parallel_tool_calls"}
)

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
    "prediction": ((dict,), "an object"),
    "reasoning_effort": ((str,), "a string"),
    "verbosity": ((str,), "a string"),
    "web_search_options": ((dict,), "an object"),
}
_POSITIVE = frozenset({"max_tokens", "max_completion_tokens"})
#: What ``stream_options`` may hold (``include_obfuscation`` only pads OpenAI's own events).
_STREAM_OPTIONS = frozenset({"include_usage", "include_obfuscation"})


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
    """A chat request in the core's terms; ``options`` go to ``create_completion`` as
    keywords; ``include_usage``: the stream ends with a usage chunk."""

    model: str
    messages: list[dict[str, Any]]
    stream: bool = False
    provider: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    include_usage: bool = False


def _message(raw: Any) -> Any:
    """A message as the core takes it: keys that are null left out (an assistant's null
    ``content`` beside its ``tool_calls`` kept), ``developer`` as ``system``, an empty
    ``annotations`` list (which SDKs echo back from a reply) dropped."""
    if not isinstance(raw, dict):
        return raw  # the core names it: messages[i]: Input should be a valid dictionary
    message = {k: v for k, v in raw.items() if v is not None}
    if "content" in raw and raw["content"] is None and raw.get("tool_calls"):
        message["content"] = None
    if message.get("role") == "developer":
        message["role"] = "system"
    if message.get("annotations") == []:
        del message["annotations"]
    return message


def _refuse_unsupported(body: dict[str, Any]) -> None:
    for name, why in UNSUPPORTED.items():
        value = body.get(name)
        if value is not None and value is not False and value != 0 and value != [] and value != {}:
            raise RequestError(why, param=name, code="unsupported_parameter")
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or n != 1):
        raise RequestError(f"n must be 1 (one choice per request), got {n!r}", param="n", code="unsupported_parameter")
    if body.get("parallel_tool_calls") is False:
        raise RequestError(
            "parallel_tool_calls=false is not supported: a model may make several calls at once",
            param="parallel_tool_calls",
            code="unsupported_parameter",
        )
    modalities = body.get("modalities")
    if modalities is not None and modalities != ["text"] and modalities != []:
        raise RequestError(
            "only text output is supported by the gateway", param="modalities", code="unsupported_parameter"
        )
    options = body.get("stream_options") or {}
    unknown = sorted(set(options) - _STREAM_OPTIONS)
    if unknown:
        raise RequestError(f"unrecognized stream option: {unknown[0]!r}", param=f"stream_options.{unknown[0]}")
    if not isinstance(options.get("include_usage", False), bool):
        raise RequestError("'stream_options.include_usage' must be true or false", param="stream_options.include_usage")


def _max_tokens(body: dict[str, Any]) -> int | None:
    """``max_completion_tokens`` (OpenAI's current name) or ``max_tokens``: one limit."""
    old, new = body.get("max_tokens"), body.get("max_completion_tokens")
    if old is not None and new is not None and old != new:
        raise RequestError(
            f"max_tokens ({old}) and max_completion_tokens ({new}) disagree: give one", param="max_completion_tokens"
        )
    return new if new is not None else old


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
    options = {name: body[name] for name in PASSED if body.get(name) is not None and body[name] != []}
    limit = _max_tokens(body)
    if limit is not None:
        options["max_tokens"] = limit
    include_usage = bool(stream) and (body.get("stream_options") or {}).get("include_usage") is True
    return ChatRequest(
        model=model,
        messages=[_message(m) for m in messages],
        stream=bool(stream),
        provider=provider,
        options=options,
        include_usage=include_usage,
    )
