"""OpenAI response shapes, and their Server-Sent Events encoding.

A streamed reply is a series of ``data: <chat.completion.chunk JSON>\\n\\n`` events: the
first carries ``delta.role`` and the first text or tool call, the following ones
``delta.content`` or ``delta.tool_calls`` (a call's first delta with ``index``, ``id``,
``type`` and ``function.name``, later ones only ``index`` and ``function.arguments``, as
OpenAI sends them), the last choice an empty delta with the ``finish_reason``; when the
request asked for ``stream_options.include_usage``, a chunk with ``choices: []`` and the
``usage``; then ``data: [DONE]``. A failure after the first event is sent as
``data: {"error": {...}}`` (no ``[DONE]`` follows: the reply is incomplete) and the
response then ends normally.
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

from ..events import ToolCall, ToolCallDelta, Usage

__all__ = ["DONE", "ChatReply", "alias_object", "encode_event", "json_bytes", "model_list", "model_object"]

DONE = b"data: [DONE]\n\n"


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def json_bytes(data: Any) -> bytes:
    """``data`` as UTF-8 JSON. A lone surrogate that a provider yielded (the core's JSON
    decoding never makes one) is written as its ``\\udXXX`` escape, which is valid JSON,
    instead of failing the whole reply."""
    return _dumps(data).encode("utf-8", "backslashreplace")


def encode_event(data: Any) -> bytes:
    """One SSE event carrying ``data`` as JSON (JSON never contains a raw newline)."""
    return b"data: " + json_bytes(data) + b"\n\n"


_ids = random.Random()  # seeded from the OS: here, and again in a forked child
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ids.seed)


def reply_id() -> str:
    """A new ``chatcmpl-`` id: 128 random bits, unique, not secret. Drawn from a generator
    seeded once per process rather than ``uuid4()``, whose system call per reply lets go of
    the GIL on the event loop, which then waits for it behind the provider threads."""
    return f"chatcmpl-{_ids.getrandbits(128):032x}"


class ChatReply:
    """The ids and envelope shared by every object of one reply; for a stream, also what
    its events have said so far (the role, the tool calls begun, the characters sent)."""

    def __init__(self, model: str, provider: str | None = None) -> None:
        self.id = reply_id()
        self.created = int(time.time())
        self.model = model
        self.provider = provider
        self.sent_chars = 0  # text and tool-call characters streamed (for a usage estimate)
        self._role_sent = False
        self._calls: set[int] = set()  # the indexes of the tool calls begun

    def _envelope(self, obj: str) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "object": obj, "created": self.created, "model": self.model}
        if self.provider:
            data["provider"] = self.provider
        return data

    def completion(self, text: str, tool_calls: list[ToolCall], finish_reason: str, usage: Usage) -> dict[str, Any]:
        """The non-streamed ``chat.completion`` object (``content`` is null when the reply
        is only tool calls, as OpenAI sends it)."""
        message: dict[str, Any] = {"role": "assistant", "content": text if text or not tool_calls else None}
        if tool_calls:
            message["tool_calls"] = [call.to_openai() for call in tool_calls]
        data = self._envelope("chat.completion")
        data["choices"] = [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}]
        data["usage"] = usage.to_dict()
        return data

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None) -> bytes:
        data = self._envelope("chat.completion.chunk")
        data["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]
        return encode_event(data)

    def item(self, item: Any) -> bytes:
        """The event for one item of the reply: text or a tool call (``b""`` for the usage
        and finish reason, which the last chunks carry)."""
        if type(item) is str:
            self.sent_chars += len(item)
            delta: dict[str, Any] = {"content": item}
        elif type(item) is ToolCallDelta:
            delta = {"tool_calls": [self._call_delta(item.index, item.id, item.name, item.arguments)]}
        elif type(item) is ToolCall:
            index = max(self._calls, default=-1) + 1
            delta = {"tool_calls": [self._call_delta(index, item.id, item.name, item.arguments)]}
        else:
            return b""
        if not self._role_sent:
            self._role_sent = True
            delta = {"role": "assistant", **delta}
        return self._chunk(delta, None)

    def _call_delta(self, index: int, call_id: str | None, name: str | None, arguments: str) -> dict[str, Any]:
        self.sent_chars += len(arguments) + len(name or "")
        if index in self._calls:
            return {"index": index, "function": {"arguments": arguments}}
        self._calls.add(index)
        return {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}

    def final_chunk(self, finish_reason: str) -> bytes:
        return self._chunk({}, finish_reason)

    def usage_chunk(self, usage: Usage, estimated: bool) -> bytes:
        """The last chunk before ``[DONE]`` when ``include_usage`` was asked: no choices;
        ``provider_core_usage: "estimated"`` when the counts are the gateway's estimate."""
        data = self._envelope("chat.completion.chunk")
        data["choices"] = []
        data["usage"] = usage.to_dict()
        if estimated:
            data["provider_core_usage"] = "estimated"
        return encode_event(data)


def model_list(models: dict[str, list[str]], aliases: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """``GET /v1/models``: OpenAI's list shape; ``owned_by`` is the first provider in routing
    order, ``providers`` all of them; then each alias (``owned_by: "alias"``, ``targets``)."""
    data = [model_object(m, names) for m, names in models.items()]
    data += [alias_object(name, targets) for name, targets in (aliases or {}).items()]
    return {"object": "list", "data": data}


def alias_object(alias: str, targets: list[str]) -> dict[str, Any]:
    return {"id": alias, "object": "model", "created": 0, "owned_by": "alias", "targets": targets}


def model_object(model: str, providers: list[str]) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": 0, "owned_by": providers[0], "providers": providers}
