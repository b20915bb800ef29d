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

from dataclasses import dataclass, field
from typing import Any

from .errors import RequestError

__all__ = ["IGNORED", "ChatRequest", "parse_chat_request"]

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
        if value not in (None, False, [], {}):
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
        raise RequestError(f"unrecognized request argument: {unknown[0]}", param=unknown[0])
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
