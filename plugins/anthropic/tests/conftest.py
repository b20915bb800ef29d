"""Fixtures for the provider-core-anthropic tests: no ANTHROPIC_* variables from the
machine, a loopback Anthropic server, and a helper that runs a completion and sorts what
it yields (text, tool calls joined from their deltas, usage, finish reason)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from provider_anthropic import Anthropic
from provider_anthropic.server import AnthropicServer

from provider_core.events import FinishReason, ToolCall, ToolCallDelta, Usage

KEY = "sk-ant-test-0123456789"
USER = [{"role": "user", "content": "hi"}]
MODEL = "claude-sonnet-4-6"


@pytest.fixture(autouse=True)
def no_anthropic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[AnthropicServer]:
    """A loopback Anthropic server serving the plugin's shipped models."""
    with AnthropicServer() as running:
        yield running


@dataclass
class Result:
    """What one completion yielded, sorted: ``text`` (joined), ``pieces`` (the text
    chunks), ``tool_calls`` (joined from the deltas by index, or given whole), ``usage``,
    ``finish`` and ``items`` (everything, in order)."""

    items: list[Any] = field(default_factory=list)

    @property
    def pieces(self) -> list[str]:
        return [i for i in self.items if isinstance(i, str)]

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def tool_calls(self) -> list[ToolCall]:
        return join_tool_calls(self.items)

    @property
    def usage(self) -> Usage | None:
        found = [i for i in self.items if isinstance(i, Usage)]
        assert len(found) <= 1, "Usage is yielded at most once"
        return found[0] if found else None

    @property
    def finish(self) -> str | None:
        return self.items[-1].reason if self.items and isinstance(self.items[-1], FinishReason) else None


def join_tool_calls(items: list[Any]) -> list[ToolCall]:
    """Assemble ``ToolCallDelta``s by index (the first of each index carries id and name,
    every one may carry an argument fragment); whole ``ToolCall``s are kept as they are."""
    calls: dict[int, list[Any]] = {}
    whole = []
    for item in items:
        if isinstance(item, ToolCall):
            whole.append(item)
        elif isinstance(item, ToolCallDelta):
            if item.index not in calls:
                assert item.id and item.name, f"the first delta of call {item.index} must carry id and name"
                assert item.index == len(calls), "tool call indexes must be 0, 1, ... in order"
                calls[item.index] = [item.id, item.name, ""]
            else:
                assert item.id is None and item.name is None
            calls[item.index][2] += item.arguments
    return whole + [ToolCall(i, n, a) for i, n, a in (calls[k] for k in sorted(calls))]


@pytest.fixture
def complete(server: AnthropicServer) -> Callable[..., Result]:
    """``complete(messages=USER, stream=True, model=MODEL, **kwargs)`` against ``server``."""

    def run(messages: Any = None, stream: bool = True, model: str = MODEL, **kwargs: Any) -> Result:
        options = {"base_url": server.url, "api_key": KEY, **kwargs}
        result = Result()
        for item in Anthropic.create_completion(model, USER if messages is None else messages, stream, **options):
            result.items.append(item)
        return result

    return run


@pytest.fixture
def last_body(server: AnthropicServer) -> Callable[[], dict[str, Any]]:
    """``last_body()``: the JSON body of the last messages request the server received."""
    return lambda: json.loads(server.messages_requests[-1].body)


@pytest.fixture
def join_calls() -> Callable[[list[Any]], list[ToolCall]]:
    """:func:`join_tool_calls`, for tests that read the items themselves."""
    return join_tool_calls
