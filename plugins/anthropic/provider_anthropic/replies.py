"""Anthropic's replies -> what a version-2 provider yields: text, tool calls, usage, finish.

Pure; no I/O. Two readers:

* :func:`reply_events` reads a non-streamed reply (``{"type": "message", "content":
  [...], "stop_reason", "usage"}``): the text of all ``text`` blocks once, then one
  :class:`~provider_core.events.ToolCall` per ``tool_use`` block, :class:`Usage`,
  :class:`FinishReason`;
* :class:`StreamReader` reads the named server-sent events of a streamed reply, one at a
  time, and returns what each adds: text deltas, :class:`ToolCallDelta` (index 0, 1, ... in
  the order of the ``tool_use`` blocks; the first with ``id`` and ``name``, then each
  ``partial_json`` fragment; ``"{}"`` at the block's end when no fragment came), and at
  ``message_stop`` the usage and finish reason.

Blocks and deltas of other kinds (``thinking``, ``redacted_thinking``, ``signature_delta``,
citations, server tools) and unknown events are skipped. Stop reasons map by
:data:`FINISH_REASONS`. Usage: prompt = ``message_start``'s ``input_tokens``; completion =
the last ``message_delta``'s ``output_tokens`` (cumulative, so never added up).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from provider_core.errors import EmptyResponse, ProviderConnectionError, StreamInterrupted, UpstreamError
from provider_core.events import FinishReason, ToolCall, ToolCallDelta, Usage
from provider_core.secrets import redact
from provider_core.streaming import json_loads

from .wire import NAME, error_details

__all__ = ["FINISH_REASONS", "StreamReader", "finish_reason", "reply_events", "upstream_error"]

#: Anthropic ``stop_reason`` -> provider-core finish reason. ``pause_turn`` (a server tool
#: paused a long turn; the caller may continue it) ends this reply normally: ``stop``.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: Any) -> str:
    """The finish reason of ``stop_reason``; an unknown or missing one is ``"stop"``."""
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _usage(prompt: int | None, completion: int | None) -> list[Usage]:
    if prompt is None and completion is None:
        return []
    return [Usage(prompt or 0, completion or 0)]


def upstream_error(
    payload: Any, *, chars: int = 0, chunks: int = 0, secrets: tuple[str, ...] = (), provider: str = NAME
) -> Exception:
    """The exception for an error Anthropic reported inside a 200 reply (``payload`` is the
    error object, or raw text): :class:`UpstreamError` when nothing was yielded yet (no
    fallback only for ``invalid_request_error``), else :class:`StreamInterrupted` saying
    how much arrived. ``secrets`` are removed from the quoted message."""
    details = error_details(payload)
    if details is None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        details = (" ".join(text.split())[:500] or "(no message)", None, None)
    message, error_type, _ = details
    message = redact(message, secrets)
    shown = f"[{error_type}] {message}" if error_type else message
    if chunks == 0:
        return UpstreamError(
            f"{provider}: {shown}",
            provider=provider,
            error_type=error_type,
            fallback_ok=error_type != "invalid_request_error",
        )
    return StreamInterrupted(
        f"{provider}: upstream error after {chars:,} characters ({chunks} chunks): {shown}",
        provider=provider,
        received_chars=chars,
        received_chunks=chunks,
    )


def reply_events(payload: Any, *, provider: str = NAME, secrets: tuple[str, ...] = ()) -> list[Any]:
    """What a non-streamed reply yields (see the module documentation). Raises
    :class:`UpstreamError` for an error object, :class:`EmptyResponse` for a reply with
    neither text nor tool call, ``ValueError`` for a reply that is not a message."""
    if isinstance(payload, Mapping) and payload.get("type") == "error":
        raise upstream_error(payload, provider=provider, secrets=secrets)
    if not isinstance(payload, Mapping) or not isinstance(payload.get("content"), list):
        raise ValueError("the reply is not a message (no 'content' list)")
    texts: list[str] = []
    calls: list[Any] = []
    for block in payload["content"]:
        if not isinstance(block, Mapping):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif (
            block.get("type") == "tool_use" and isinstance(block.get("id"), str) and isinstance(block.get("name"), str)
        ):
            arguments = block.get("input")
            calls.append(
                ToolCall(
                    block["id"],
                    block["name"],
                    json.dumps(arguments if arguments is not None else {}, ensure_ascii=False),
                )
            )
    text = "".join(texts)
    if not text and not calls:
        why = f" (stop_reason {payload.get('stop_reason')!r})" if payload.get("stop_reason") else ""
        raise EmptyResponse(f"{provider} answered with no text and no tool call{why}", provider=provider)
    usage = payload.get("usage") if isinstance(payload.get("usage"), Mapping) else {}
    items: list[Any] = [text] if text else []
    items += calls
    items += _usage(_count(usage.get("input_tokens")), _count(usage.get("output_tokens")))
    items.append(FinishReason(finish_reason(payload.get("stop_reason"))))
    return items


class StreamReader:
    """Reads one streamed reply, event by event; see the module documentation.

    :meth:`event` returns what an event adds (a text delta's ``str``, else a list of
    items) and raises for an ``error`` event;
    :attr:`done` turns true at ``message_stop``, after which :meth:`finish` gives the usage
    and finish reason; :meth:`cut_short` is the error for a stream that ended before it.
    ``chars`` / ``chunks`` count the text characters and the items returned so far.
    """

    __slots__ = (
        "_blocks",
        "_completion",
        "_prompt",
        "_stop",
        "_tools",
        "chars",
        "chunks",
        "done",
        "provider",
        "secrets",
    )

    def __init__(self, *, provider: str = NAME, secrets: tuple[str, ...] = ()) -> None:
        self.provider = provider
        self.secrets = secrets
        self.chars = 0
        self.chunks = 0
        self.done = False
        self._blocks: dict[int, list[Any]] = {}  # block index -> [tool index, fragment seen]
        self._tools = 0
        self._prompt: int | None = None
        self._completion: int | None = None
        self._stop: Any = None

    def event(self, name: str, data: str) -> str | list[Any]:
        """What event ``name`` (the SSE ``event`` field) with JSON ``data`` adds: the text
        of a text delta as a ``str`` (most events of a reply: the fast path), else a list
        of items, maybe empty."""
        try:
            payload = json_loads(data)  # a lone surrogate escape becomes U+FFFD
        except ValueError:
            if name == "error":
                raise self._error(data) from None
            raise self._error(f"the stream carried an event that is not JSON: {data[:200]!r}") from None
        if type(payload) is not dict:  # decoded JSON: a dict test is enough, and cheaper than Mapping
            raise self._error(f"the stream carried an event that is not an object: {data[:200]!r}")
        if name == "content_block_delta":
            delta = payload.get("delta")
            if type(delta) is dict and delta.get("type") == "text_delta":
                text = delta.get("text")
                if type(text) is not str or not text:
                    return []
                self.chars += len(text)
                self.chunks += 1
                return text
        kind = name if name != "message" else payload.get("type")
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        return handler(self, payload) if handler is not None else []

    def _error(self, payload: Any) -> Exception:
        return upstream_error(
            payload, chars=self.chars, chunks=self.chunks, secrets=self.secrets, provider=self.provider
        )

    def _on_error(self, payload: dict[str, Any]) -> list[Any]:
        raise self._error(payload)

    def _on_message_start(self, payload: dict[str, Any]) -> list[Any]:
        message = payload.get("message")
        usage = message.get("usage") if isinstance(message, Mapping) else None
        if isinstance(usage, Mapping):
            self._prompt = _count(usage.get("input_tokens"))
        return []

    def _on_block_start(self, payload: dict[str, Any]) -> list[Any]:
        block = payload.get("content_block")
        if not isinstance(block, Mapping):
            return []
        kind = block.get("type")
        if kind == "text":
            return self._text(block.get("text"))
        if kind != "tool_use":
            return []
        index = self._tools
        self._tools += 1
        self._blocks[payload.get("index", -1)] = state = [index, False]
        self.chunks += 1
        items: list[Any] = [ToolCallDelta(index, id=str(block.get("id", "")), name=str(block.get("name", "")))]
        start = block.get("input")
        if isinstance(start, Mapping) and start:  # a server that sends the whole input up front
            state[1] = True
            self.chunks += 1
            items.append(ToolCallDelta(index, arguments=json.dumps(start, ensure_ascii=False)))
        return items

    def _on_block_delta(self, payload: dict[str, Any]) -> list[Any]:
        delta = payload.get("delta")
        if not isinstance(delta, Mapping):
            return []
        kind = delta.get("type")
        if kind == "text_delta":
            return self._text(delta.get("text"))
        if kind == "input_json_delta":
            state = self._blocks.get(payload.get("index", -1))
            fragment = delta.get("partial_json")
            if state is not None and isinstance(fragment, str) and fragment:
                state[1] = True
                self.chunks += 1
                return [ToolCallDelta(state[0], arguments=fragment)]
        return []

    def _on_block_stop(self, payload: dict[str, Any]) -> list[Any]:
        state = self._blocks.pop(payload.get("index", -1), None)
        if state is None or state[1]:
            return []
        self.chunks += 1
        return [ToolCallDelta(state[0], arguments="{}")]

    def _on_message_delta(self, payload: dict[str, Any]) -> list[Any]:
        delta = payload.get("delta")
        if isinstance(delta, Mapping) and delta.get("stop_reason") is not None:
            self._stop = delta.get("stop_reason")
        usage = payload.get("usage")
        if isinstance(usage, Mapping) and _count(usage.get("output_tokens")) is not None:
            self._completion = usage["output_tokens"]
        return []

    def _on_message_stop(self, payload: dict[str, Any]) -> list[Any]:
        self.done = True
        return []

    def _text(self, text: Any) -> list[Any]:
        if not isinstance(text, str) or not text:
            return []
        self.chars += len(text)
        self.chunks += 1
        return [text]

    def finish(self) -> list[Any]:
        """After ``message_stop``: ``[Usage?, FinishReason]``; :class:`EmptyResponse` when
        the reply had neither text nor tool call."""
        if self.chars == 0 and self._tools == 0:
            why = f" (stop_reason {self._stop!r})" if self._stop else ""
            raise EmptyResponse(f"{self.provider} answered with no text and no tool call{why}", provider=self.provider)
        return [*_usage(self._prompt, self._completion), FinishReason(finish_reason(self._stop))]

    def cut_short(self, mid_event: bool, url: str = "") -> Exception:
        """The error for a stream that ended without ``message_stop``: nothing yielded yet,
        a connection error (another candidate may answer); else :class:`StreamInterrupted`."""
        what = "in the middle of an event" if mid_event else "without message_stop"
        if self.chunks == 0:
            return ProviderConnectionError(
                f"{self.provider}: the stream ended {what}, before any text", provider=self.provider, url=url
            )
        return StreamInterrupted(
            f"{self.provider}: the stream ended {what} after {self.chars:,} characters "
            f"({self.chunks} chunks); the reply may be incomplete",
            provider=self.provider,
            received_chars=self.chars,
            received_chunks=self.chunks,
        )


_HANDLERS = {
    "error": StreamReader._on_error,
    "message_start": StreamReader._on_message_start,
    "content_block_start": StreamReader._on_block_start,
    "content_block_delta": StreamReader._on_block_delta,
    "content_block_stop": StreamReader._on_block_stop,
    "message_delta": StreamReader._on_message_delta,
    "message_stop": StreamReader._on_message_stop,
}
