"""Builders of Anthropic Messages API replies, for the loopback server and for tests.

Each builder returns what Anthropic sends, in its shapes: a message object
(:func:`message`), the named events of a streamed message (:func:`stream_events`), those
events as ``text/event-stream`` text (:func:`sse`), and whole scripted
:class:`~provider_core.testing.server.Reply` objects: :func:`message_reply` (JSON),
:func:`stream_reply` (events, cut every ``split`` bytes, optionally broken by an ``error``
event or cut before ``message_stop``) and :func:`error_reply` (an HTTP error with
Anthropic's error body). Only the standard library and provider-core's test server.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from provider_core.testing.server import Reply, split_bytes

__all__ = [
    "JSON_HEADERS",
    "SSE_HEADERS",
    "ToolScript",
    "error_body",
    "error_event",
    "error_reply",
    "message",
    "message_reply",
    "sse",
    "stream_events",
    "stream_reply",
]

SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
JSON_HEADERS = {"content-type": "application/json"}
MODEL = "claude-sonnet-5-5"
MESSAGE_ID = "msg_01LoopbackServer0000000000"

#: A scripted tool call: ``(id, name, argument fragments)``; the fragments joined are the
#: arguments' JSON text (no fragment: the tool takes no arguments).
ToolScript = tuple[str, str, Sequence[str]]


def _input(fragments: Sequence[str]) -> Any:
    text = "".join(fragments)
    return json.loads(text) if text else {}


def message(
    text: str | None = None,
    tool_calls: Sequence[ToolScript] = (),
    *,
    stop_reason: str | None = None,
    usage: tuple[int, int] = (10, 5),
    model: str = MODEL,
) -> dict[str, Any]:
    """A ``message`` object: a text block (when ``text``), then a ``tool_use`` block per
    tool call. ``stop_reason`` defaults to ``tool_use`` with tool calls, else ``end_turn``."""
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content += [{"type": "tool_use", "id": i, "name": n, "input": _input(f)} for i, n, f in tool_calls]
    return {
        "id": MESSAGE_ID,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason or ("tool_use" if tool_calls else "end_turn"),
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }


def stream_events(
    pieces: Iterable[str] = (),
    tool_calls: Sequence[ToolScript] = (),
    *,
    thinking: Sequence[str] = (),
    stop_reason: str | None = None,
    usage: tuple[int, int] = (10, 5),
    model: str = MODEL,
    ping: bool = True,
) -> list[tuple[str, dict[str, Any]]]:
    """The events of a streamed message, ``message_start`` to ``message_stop``: an optional
    ``thinking`` block (its deltas and a signature, which readers skip), a text block with
    one ``text_delta`` per piece, then per tool call a ``tool_use`` block with one
    ``input_json_delta`` per fragment. ``message_start`` reports ``usage[0]`` input tokens
    (and 1 output token, as Anthropic does); the ``message_delta`` reports ``usage[1]``."""
    start = message(model=model, usage=(usage[0], 1))
    start.update(content=[], stop_reason=None)
    events: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": start})]
    if ping:
        events.append(("ping", {"type": "ping"}))
    index = 0

    def block(first: dict[str, Any], deltas: list[dict[str, Any]]) -> None:
        nonlocal index
        events.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": first}))
        for delta in deltas:
            events.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1

    if thinking:
        deltas = [{"type": "thinking_delta", "thinking": t} for t in thinking]
        block(
            {"type": "thinking", "thinking": "", "signature": ""},
            [*deltas, {"type": "signature_delta", "signature": "c2ln"}],
        )
    texts = [p for p in pieces if p]
    if texts:
        block({"type": "text", "text": ""}, [{"type": "text_delta", "text": p} for p in texts])
    for call_id, name, fragments in tool_calls:
        first = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        block(first, [{"type": "input_json_delta", "partial_json": f} for f in fragments])
    reason = stop_reason or ("tool_use" if tool_calls else "end_turn")
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": reason, "stop_sequence": None},
                "usage": {"output_tokens": usage[1]},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def error_body(error_type: str, message_text: str) -> dict[str, Any]:
    """Anthropic's error object: ``{"type": "error", "error": {"type", "message"}}``."""
    return {"type": "error", "error": {"type": error_type, "message": message_text}}


def error_event(error_type: str = "overloaded_error", message_text: str = "Overloaded") -> tuple[str, dict[str, Any]]:
    """An ``error`` event, as Anthropic sends one inside a 200 stream."""
    return ("error", error_body(error_type, message_text))


def sse(*events: tuple[str, Any] | str, line_ending: str = "\n") -> str:
    """Events as ``text/event-stream`` text: each ``(name, payload)`` becomes ``event: name``
    and one ``data:`` line of JSON (a ``str`` payload is sent as it is); a bare ``str`` is
    sent as it is (a comment, or something broken on purpose)."""
    out = []
    for event in events:
        if isinstance(event, str):
            out.append(event)
            continue
        name, payload = event
        data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        out.append(f"event: {name}{line_ending}data: {data}{line_ending}{line_ending}")
    return "".join(out)


def stream_reply(
    pieces: Iterable[str] = (),
    tool_calls: Sequence[ToolScript] = (),
    *,
    events: Sequence[tuple[str, Any] | str] | None = None,
    error: tuple[str, str] | None = None,
    error_after: int = 0,
    terminal: bool = True,
    split: int | None = None,
    line_ending: str = "\n",
    thinking: Sequence[str] = (),
    stop_reason: str | None = None,
    usage: tuple[int, int] = (10, 5),
    model: str = MODEL,
    **options: Any,
) -> Reply:
    """A streamed reply (``events`` as given, else :func:`stream_events` of the rest).

    ``error=(type, message)`` replaces the end of the stream by an ``error`` event after
    ``error_after`` text deltas (0: before any text); ``terminal=False`` cuts the stream
    before its ``message_delta`` / ``message_stop``. The body is cut every ``split`` bytes,
    one HTTP chunk each, wherever that falls (inside a line, inside a character).
    ``options`` go to the :class:`Reply` (``delay_before``, ``delay_between``, ...)."""
    if events is None:
        scripted = stream_events(
            pieces, tool_calls, thinking=thinking, stop_reason=stop_reason, usage=usage, model=model
        )
        if error is not None:
            scripted = [*_cut(scripted, error_after), error_event(*error)]
        elif not terminal:
            scripted = [e for e in scripted if e[0] not in ("message_delta", "message_stop")]
        events = scripted
    body = sse(*events, line_ending=line_ending).encode("utf-8")
    headers = {**SSE_HEADERS, **options.pop("headers", {})}
    return Reply(200, body=split_bytes(body, split), headers=headers, **options)


def _cut(events: list[tuple[str, dict[str, Any]]], text_deltas: int) -> list[tuple[str, dict[str, Any]]]:
    """The events up to and including the ``text_deltas``-th text delta (0: up to the
    first content block)."""
    out: list[tuple[str, dict[str, Any]]] = []
    seen = 0
    for name, payload in events:
        if name == "content_block_start" and text_deltas == 0:
            break
        out.append((name, payload))
        if name == "content_block_delta" and payload["delta"].get("type") == "text_delta":
            seen += 1
            if seen == text_deltas:
                break
    return out


def message_reply(
    text: str | None = None,
    tool_calls: Sequence[ToolScript] = (),
    *,
    stop_reason: str | None = None,
    usage: tuple[int, int] = (10, 5),
    model: str = MODEL,
    **options: Any,
) -> Reply:
    """A non-streamed reply: :func:`message` as JSON."""
    payload = message(text, tool_calls, stop_reason=stop_reason, usage=usage, model=model)
    headers = {**JSON_HEADERS, **options.pop("headers", {})}
    return Reply(200, body=json.dumps(payload, ensure_ascii=False), headers=headers, framing="length", **options)


def error_reply(
    status: int,
    error_type: str,
    message_text: str,
    *,
    retry_after: float | None = None,
    headers: dict[str, str] | None = None,
    **options: Any,
) -> Reply:
    """An HTTP error with Anthropic's error body (and ``retry-after`` when given)."""
    extra = dict(headers or {})
    if retry_after is not None:
        extra["retry-after"] = f"{retry_after:g}"
    body = json.dumps({**error_body(error_type, message_text), "request_id": "req_loopback"})
    return Reply(status, body=body, headers={**JSON_HEADERS, **extra}, framing="length", **options)
