"""What a provider may yield besides text: tool calls, token usage and the finish reason.

A version-2 provider's ``create_completion`` yields ``str`` text deltas and, where its
protocol carries them, these events (a version-1 provider yields ``str`` only)::

    yield "The weather in "                              # text, as it arrives
    yield ToolCallDelta(0, id="call_1", name="weather")  # a streamed tool call starts...
    yield ToolCallDelta(0, arguments='{"city": ')        # ...its arguments arrive in pieces
    yield ToolCallDelta(0, arguments='"Paris"}')
    yield Usage(prompt_tokens=20, completion_tokens=9)   # at most once
    yield FinishReason("tool_calls")                     # last

A provider whose protocol delivers a tool call whole yields one :class:`ToolCall`
instead of deltas. The core assembles the deltas (arguments concatenated in order, per
``index``) into :class:`ToolCall` objects; a caller iterating a
:class:`~provider_core.fallback.Completion` still gets text only, and finds the rest on it
afterwards (``.tool_calls``, ``.usage``, ``.finish_reason``) or in ``.events()``.
"""

from __future__ import annotations

from typing import Any, Union

from .records import Record

__all__ = ["FINISH_REASONS", "Event", "FinishReason", "ToolCall", "ToolCallDelta", "Usage"]

#: The finish reasons a provider may report (OpenAI's values).
FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter")

# The events are immutable records (provider_core.records: equality, hashing, repr,
# ``replace``, ``to_dict``, pickling) rather than dataclasses: defining four frozen dataclasses cost
# about 4 ms of each start that imports this module (bench: "start-up with a config
# file"). Each writes its own ``__init__``, as fast as a dataclass's: a provider makes
# one per streamed tool-call piece.
_set = object.__setattr__


class ToolCallDelta(Record):
    """A piece of a streamed tool call. The first piece of call ``index`` carries its
    ``id`` and ``name``; every piece may carry a fragment of its JSON ``arguments``."""

    _fields = __match_args__ = ("index", "id", "name", "arguments")
    __slots__ = _fields
    index: int
    id: str | None
    name: str | None
    arguments: str

    def __init__(self, index: int, id: str | None = None, name: str | None = None, arguments: str = "") -> None:
        _set(self, "index", index)
        _set(self, "id", id)
        _set(self, "name", name)
        _set(self, "arguments", arguments)


class ToolCall(Record):
    """One complete tool call: the model asks the caller to run function ``name`` with
    ``arguments`` (a JSON object, as a string exactly as the model wrote it)."""

    _fields = __match_args__ = ("id", "name", "arguments")
    __slots__ = _fields
    id: str
    name: str
    arguments: str

    def __init__(self, id: str, name: str, arguments: str = "{}") -> None:
        _set(self, "id", id)
        _set(self, "name", name)
        _set(self, "arguments", arguments)

    def to_openai(self) -> dict[str, Any]:
        """The call in OpenAI's shape, as an assistant message's ``tool_calls`` item."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


class Usage(Record):
    """Token counts of one reply; ``total_tokens`` defaults to prompt + completion."""

    _fields = __match_args__ = ("prompt_tokens", "completion_tokens", "total_tokens")
    __slots__ = _fields
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    def __init__(self, prompt_tokens: int, completion_tokens: int, total_tokens: int = -1) -> None:
        _set(self, "prompt_tokens", prompt_tokens)
        _set(self, "completion_tokens", completion_tokens)
        _set(self, "total_tokens", prompt_tokens + completion_tokens if total_tokens < 0 else total_tokens)


class FinishReason(Record):
    """Why the reply ended: one of :data:`FINISH_REASONS`."""

    _fields = __match_args__ = ("reason",)
    __slots__ = _fields
    reason: str

    def __init__(self, reason: str) -> None:
        _set(self, "reason", reason)


#: Anything a version-2 provider may yield.
Event = Union[str, ToolCallDelta, ToolCall, Usage, FinishReason]  # noqa: UP007 - a runtime alias on 3.10
