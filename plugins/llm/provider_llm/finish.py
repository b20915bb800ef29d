"""The finish reason of an llm response, read from its raw JSON (``response.json()``).

llm has no finish reason of its own; its plugins keep the provider's JSON, which says it
in one of a few well-known shapes. Each maps to provider-core's reasons (``stop``,
``length``, ``tool_calls``, ``content_filter``):

* OpenAI chat completions: ``choices[0].finish_reason``, or ``finish_reason`` at the top
  of the JSON llm combines from a stream (``object`` = ``chat.completion.chunk``);
* Anthropic messages: ``stop_reason`` (``end_turn``, ``stop_sequence``, ``max_tokens``,
  ``tool_use``, ``refusal``);
* Gemini: ``candidates[0].finishReason`` (``STOP``, ``MAX_TOKENS``, ``SAFETY``, ...).

Any other shape: ``None`` (the caller decides from what it saw). :func:`cut_short` tells
a streamed OpenAI-shaped reply that ended without any finish reason: its connection
closed before the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["cut_short", "finish_reason"]

_REASONS = {
    # OpenAI
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    # Anthropic
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    # Gemini
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
}


def _first(items: Any) -> Mapping[str, Any]:
    if isinstance(items, list) and items and isinstance(items[0], Mapping):
        return items[0]
    return {}


def _raw(data: Mapping[str, Any]) -> Any:
    if "choices" in data:
        return _first(data["choices"]).get("finish_reason")
    if "candidates" in data:
        return _first(data["candidates"]).get("finishReason")
    return data.get("finish_reason", data.get("stop_reason"))


def finish_reason(response_json: Any) -> str | None:
    """provider-core's finish reason for ``response_json``, or ``None`` when it does not say."""
    if not isinstance(response_json, Mapping):
        return None
    raw = _raw(response_json)
    return _REASONS.get(raw) if isinstance(raw, str) else None


def cut_short(response_json: Any) -> bool:
    """Whether ``response_json`` is llm's combination of a streamed OpenAI chat reply that
    carries no finish reason: the stream stopped before its last event."""
    return (
        isinstance(response_json, Mapping)
        and response_json.get("object") == "chat.completion.chunk"
        and not response_json.get("finish_reason")
    )
