"""OpenAI response shapes, and their Server-Sent Events encoding.

A streamed reply is a series of ``data: <chat.completion.chunk JSON>\\n\\n`` events: the
first carries ``delta.role`` and the first text, the following ones ``delta.content``, the
last an empty delta with ``finish_reason: "stop"``, then ``data: [DONE]``. A failure after
the first event is sent as ``data: {"error": {...}}`` (no ``[DONE]`` follows: the reply is
incomplete) and the response then ends normally. Token counts are not known to
provider-core, so ``usage`` is ``null``.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

__all__ = ["DONE", "ChatReply", "encode_event", "json_bytes", "model_list"]

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


class ChatReply:
    """The ids and envelope shared by every object of one reply."""

    def __init__(self, model: str, provider: str | None = None) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model
        self.provider = provider

    def _envelope(self, obj: str) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "object": obj, "created": self.created, "model": self.model}
        if self.provider:
            data["provider"] = self.provider
        return data

    def completion(self, text: str) -> dict[str, Any]:
        """The non-streamed ``chat.completion`` object."""
        data = self._envelope("chat.completion")
        data["choices"] = [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ]
        data["usage"] = None
        return data

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None) -> bytes:
        data = self._envelope("chat.completion.chunk")
        data["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]
        return encode_event(data)

    def first_chunk(self, text: str) -> bytes:
        return self._chunk({"role": "assistant", "content": text}, None)

    def chunk(self, text: str) -> bytes:
        return self._chunk({"content": text}, None)

    def final_chunk(self) -> bytes:
        return self._chunk({}, "stop")


def model_list(models: dict[str, list[str]]) -> dict[str, Any]:
    """``GET /v1/models``: OpenAI's list shape; ``owned_by`` is the first provider in routing
    order, ``providers`` all of them."""
    return {"object": "list", "data": [model_object(m, names) for m, names in models.items()]}


def model_object(model: str, providers: list[str]) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": 0, "owned_by": providers[0], "providers": providers}
