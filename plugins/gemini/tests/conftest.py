"""Fixtures for the provider-core-gemini tests: an environment without real keys, a
loopback Gemini server, a provider pointed at it, and a helper that splits what a
completion yields into text, tool calls, usage and finish reason (checked by the core)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from provider_gemini.provider import configure
from provider_gemini.server import GeminiServer
from provider_gemini.signatures import MEMORY

from provider_core.events import FinishReason, ToolCall, Usage
from provider_core.reply import ReplyState

KEY = "test-key-7f3a9c1e"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Gemini variables from the machine, and no thought signatures from other tests."""
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    MEMORY.clear()


@pytest.fixture
def gemini_server() -> Iterator[GeminiServer]:
    with GeminiServer() as server:
        yield server


@pytest.fixture
def gemini(gemini_server: GeminiServer) -> type:
    """The provider as registration makes it, with a key and the server as base URL."""
    return configure({"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": gemini_server.url})


@dataclass
class Outcome:
    """What one completion yielded, sorted: ``text`` joined, ``tool_calls`` (as the core
    assembles them), ``usage``, ``finish`` and the raw ``items`` in order."""

    items: list[Any]
    text: str = ""
    chunks: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None
    finish: str | None = None


def _collect(items: Iterable[Any]) -> Outcome:
    """Run a completion to its end and sort what it yielded with the core's own
    :class:`~provider_core.reply.ReplyState`, which checks every item against the rules of
    contract v2 (one Usage, FinishReason last, tool-call deltas) and assembles the calls."""
    out = Outcome(items=list(items))
    state = ReplyState("Gemini")
    for item in out.items:
        if isinstance(item, str):
            assert item, "an empty text chunk was yielded"
            assert state.finish_reason is None, "text after the FinishReason"
            out.chunks.append(item)
        else:
            state.add(item)  # raises ProviderContractError naming the rule broken
    assert out.items and isinstance(out.items[-1], FinishReason), "FinishReason must come last"
    out.text = "".join(out.chunks)
    out.tool_calls, out.usage, out.finish = state.tool_calls, state.usage, state.finish_reason
    return out


@pytest.fixture
def collect():
    """``collect(completion) -> Outcome``: see :class:`Outcome`."""
    return _collect


@pytest.fixture
def key() -> str:
    """The API key the ``gemini`` fixture's provider sends."""
    return KEY
