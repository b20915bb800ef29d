"""What one reply delivers besides its text, and the rules a provider's items keep.

A provider yields ``str`` text and the events of :mod:`provider_core.events`.
:class:`ReplyState` takes them one by one, in order: it checks each against
:data:`ITEM_RULES` (raising :class:`~provider_core.errors.ProviderContractError` naming the
rule) and keeps what arrived: the tool calls (streamed deltas assembled by ``index``, their
argument fragments concatenated in order; whole calls as they came), the usage, the finish
reason. The fallback loop keeps one per reply; the contract suite checks a provider with
the same class, so the rules are stated once.
"""

from __future__ import annotations

from typing import Any

from .errors import ProviderContractError
from .events import FINISH_REASONS, FinishReason, ToolCall, ToolCallDelta, Usage

__all__ = ["ITEM_RULES", "ChatResult", "ReplyState"]

#: The rules of what a provider yields, by id (shared with the contract suite).
ITEM_RULES: dict[str, str] = {
    "chunk-str": "every item is a str or an event of provider_core.events",
    "usage-once": "at most one Usage, with whole numbers >= 0",
    "finish-last": "FinishReason comes last, once, with a reason of provider_core.events.FINISH_REASONS",
    "tool-call-delta": "a call's first ToolCallDelta carries its id and name; indexes are whole numbers >= 0; "
    "arguments are str; a ToolCall has a non-empty id and name",
}


class ReplyState:
    """The events of one reply from provider ``provider`` (a name, for the errors)."""

    __slots__ = ("_calls", "_deltas", "finish_reason", "provider", "usage")

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self._deltas: dict[int, list[Any]] = {}  # index -> [id, name, [argument fragments]]
        self._calls: list[ToolCall] = []

    def _broken(self, rule: str, detail: str) -> ProviderContractError:
        return ProviderContractError(f"{self.provider} {detail}", provider=self.provider, rule=rule)

    def add(self, item: Any) -> None:
        """Take one non-text item (text is not looked at here: the hot path stays lean)."""
        if self.finish_reason is not None:
            raise self._broken("finish-last", f"yielded {type(item).__name__} after its FinishReason")
        kind = type(item)
        if kind is ToolCallDelta:
            self._delta(item)
        elif kind is ToolCall:
            if not (isinstance(item.id, str) and item.id and isinstance(item.name, str) and item.name):
                raise self._broken("tool-call-delta", f"yielded a ToolCall without an id or a name: {item!r}")
            if not isinstance(item.arguments, str):
                raise self._broken("tool-call-delta", "yielded a ToolCall whose arguments are not a str")
            self._calls.append(item)
        elif kind is Usage:
            if self.usage is not None:
                raise self._broken("usage-once", "yielded a second Usage")
            counts = (item.prompt_tokens, item.completion_tokens, item.total_tokens)
            if not all(type(n) is int and n >= 0 for n in counts):
                raise self._broken("usage-once", f"yielded a Usage with counts that are not whole numbers >= 0: {item}")
            self.usage = item
        elif kind is FinishReason:
            if item.reason not in FINISH_REASONS:
                raise self._broken("finish-last", f"yielded FinishReason({item.reason!r}), not one of {FINISH_REASONS}")
            self.finish_reason = item.reason
        else:
            raise self._broken("chunk-str", f"yielded {type(item).__name__}, not str")

    def _delta(self, delta: ToolCallDelta) -> None:
        index = delta.index
        if type(index) is not int or index < 0:
            raise self._broken("tool-call-delta", f"yielded a ToolCallDelta with index {index!r}")
        if not isinstance(delta.arguments, str):
            raise self._broken("tool-call-delta", "yielded a ToolCallDelta whose arguments are not a str")
        current = self._deltas.get(index)
        if current is None:
            if not (delta.id and delta.name):
                raise self._broken("tool-call-delta", f"began tool call {index} without its id and name")
            self._deltas[index] = [delta.id, delta.name, [delta.arguments]]
            return
        if (delta.id and delta.id != current[0]) or (delta.name and delta.name != current[1]):
            raise self._broken("tool-call-delta", f"changed the id or name of tool call {index} midway")
        current[2].append(delta.arguments)

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The calls so far: the assembled streamed ones by index, then the whole ones."""
        assembled = [ToolCall(d[0], d[1], "".join(d[2])) for _, d in sorted(self._deltas.items())]
        return assembled + self._calls

    @property
    def has_calls(self) -> bool:
        return bool(self._deltas or self._calls)


class ChatResult(str):
    """A whole reply (``create_completion(..., stream=False)``): its text, plus what arrived
    besides it: ``tool_calls`` (list of :class:`~provider_core.events.ToolCall`),
    ``usage`` (:class:`~provider_core.events.Usage` or ``None``), ``finish_reason`` (``str``
    or ``None``) and ``provider`` (the provider that answered)."""

    tool_calls: list[ToolCall]
    usage: Usage | None
    finish_reason: str | None
    provider: str | None

    def __new__(
        cls,
        text: str = "",
        *,
        tool_calls: list[ToolCall] | None = None,
        usage: Usage | None = None,
        finish_reason: str | None = None,
        provider: str | None = None,
    ) -> ChatResult:
        result = super().__new__(cls, text)
        result.tool_calls = list(tool_calls or [])
        result.usage = usage
        result.finish_reason = finish_reason
        result.provider = provider
        return result
