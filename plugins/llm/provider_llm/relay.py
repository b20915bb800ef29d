"""From what an llm response produces to what a provider-core provider yields.

llm streams :class:`llm.parts.StreamEvent` objects (``text``, ``reasoning``,
``tool_call_name``, ``tool_call_args``, ``tool_result``); afterwards the response has its
tool calls, its usage and its raw JSON. :class:`Relay` turns them into the events of
:mod:`provider_core.events`:

* ``text`` -> the text (``str``); ``reasoning`` and server-executed tool calls and results
  (the provider ran them itself) -> nothing;
* a streamed tool call (``tool_call_name`` then ``tool_call_args`` events, grouped as
  llm groups them) -> :class:`~provider_core.events.ToolCallDelta` items, indexes 0, 1, ...
  in order of the calls, the first of each carrying its id and name;
* a tool call only found on the finished response (a plugin that does not stream them)
  -> one whole :class:`~provider_core.events.ToolCall`;
* ``response.usage()`` -> :class:`~provider_core.events.Usage` (input -> prompt, output ->
  completion, total = their sum), when the plugin reported any;
* last, :class:`~provider_core.events.FinishReason`, from the response JSON where it says
  (:mod:`provider_llm.finish`), else ``tool_calls`` when there were tool calls, else ``stop``.

Pure: works on any objects with those attributes, so it is tested without llm.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from provider_core.events import Event, FinishReason, ToolCall, ToolCallDelta, Usage

from .finish import finish_reason

__all__ = ["Relay"]


@dataclass
class _Call:
    index: int
    id: str | None  # as the plugin gave it (``None``: it gave none)
    name: str = ""
    started: bool = False
    shown_id: str = ""  # the id yielded: the plugin's, else a new one


def _new_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


@dataclass
class Relay:
    """The state of one reply: which tool calls were streamed, how much was delivered."""

    calls: dict[Any, _Call] = field(default_factory=dict)
    #: items delivered so far (text chunks and tool-call deltas) and characters of text
    delivered: int = 0
    chars: int = 0
    _last_call: _Call | None = None

    def feed(self, event: Any) -> Iterator[Event]:
        """The items for one llm stream event (often none or one)."""
        kind = getattr(event, "type", None)
        chunk = getattr(event, "chunk", "") or ""
        if kind == "text":
            if chunk:
                self.delivered += 1
                self.chars += len(chunk)
                yield chunk
            return
        if kind not in ("tool_call_name", "tool_call_args") or getattr(event, "server_executed", False):
            return
        call = self._call_for(event, kind)
        if kind == "tool_call_name":
            if not call.started:
                call.name += chunk
            return
        yield from self._start(call)
        if chunk:
            self.delivered += 1
            yield ToolCallDelta(call.index, arguments=chunk)

    def _call_for(self, event: Any, kind: str) -> _Call:
        """The call an event belongs to: by llm's part index (or the tool call id), else
        the call of the previous event for arguments without either."""
        key = getattr(event, "part_index", None)
        if key is None:
            key = getattr(event, "tool_call_id", None)
        if key is None and kind == "tool_call_args" and self._last_call is not None:
            return self._last_call
        call = self.calls.get(key) if key is not None else None
        if call is None:
            call = _Call(len(self.calls), getattr(event, "tool_call_id", None))
            self.calls[key if key is not None else object()] = call
        if call.id is None:
            call.id = getattr(event, "tool_call_id", None)
        if not call.name and getattr(event, "tool_name", None):
            call.name = event.tool_name
        self._last_call = call
        return call

    def _start(self, call: _Call) -> Iterator[Event]:
        if not call.started:
            call.started = True
            call.shown_id = call.id or _new_id()
            self.delivered += 1
            yield ToolCallDelta(call.index, id=call.shown_id, name=call.name)

    def finish(self, tool_calls: list[Any], usage: Any, response_json: Any) -> Iterator[Event]:
        """What follows the stream: calls not streamed yet, usage, the finish reason."""
        for call in list(self.calls.values()):
            yield from self._start(call)  # a call that never got arguments
        streamed = {c.id for c in self.calls.values() if c.id is not None}
        unnamed = sum(1 for c in self.calls.values() if c.id is None)
        whole = 0
        for call in tool_calls:
            call_id = getattr(call, "tool_call_id", None)
            if call_id in streamed or (call_id is None and unnamed > 0):
                unnamed -= call_id is None
                continue
            whole += 1
            self.delivered += 1
            arguments = getattr(call, "arguments", None)
            text = arguments if isinstance(arguments, str) else json.dumps(arguments or {}, ensure_ascii=False)
            yield ToolCall(call_id or _new_id(), str(getattr(call, "name", "")), text)
        prompt_tokens, completion_tokens = getattr(usage, "input", None), getattr(usage, "output", None)
        if prompt_tokens is not None or completion_tokens is not None:
            yield Usage(int(prompt_tokens or 0), int(completion_tokens or 0))
        reason = finish_reason(response_json)
        if reason is None:
            reason = "tool_calls" if (self.calls or whole) else "stop"
        yield FinishReason(reason)
