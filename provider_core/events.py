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

from dataclasses import dataclass, field
from typing import Any, Union

__all__ = ["FINISH_REASONS", "Event", "FinishReason", "ToolCall", "ToolCallDelta", "Usage"]

#: The finish reasons a provider may report (OpenAI's values).
FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter")


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a streamed tool call. The first piece of call ``index`` carries its
    ``id`` and ``name``; every piece may carry a fragment of its JSON ``arguments``."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class ToolCall:
    """One complete tool call: the model asks the caller to run function ``name`` with
    ``arguments`` (a JSON object, as a string exactly as the model wrote it)."""

    id: str
    name: str
    arguments: str = "{}"

    def to_openai(self) -> dict[str, Any]:
        """The call in OpenAI's shape, as an assistant message's ``tool_calls`` item."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class Usage:
    """Token counts of one reply; ``total_tokens`` defaults to prompt + completion."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int = field(default=-1)

    def __post_init__(self) -> None:
        if self.total_tokens < 0:
            object.__setattr__(self, "total_tokens", self.prompt_tokens + self.completion_tokens)

    def to_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True)
class FinishReason:
    """Why the reply ended: one of :data:`FINISH_REASONS`."""

    reason: str


#: Anything a version-2 provider may yield.
Event = Union[str, ToolCallDelta, ToolCall, Usage, FinishReason]  # noqa: UP007 - a runtime alias on 3.10
