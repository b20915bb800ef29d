"""Fixtures for the provider-core-gemini tests: an environment without real keys, a
loopback Gemini server, a provider pointed at it, and a helper that splits what a
completion yields into text, tool calls, usage and finish reason."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from provider_gemini.provider import configure
from provider_gemini.server import GeminiServer
from provider_gemini.signatures import MEMORY

from provider_core.events import FinishReason, ToolCall, ToolCallDelta, Usage

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
    """What one completion yielded, sorted: ``text`` joined, ``tool_calls`` assembled
    (whole calls as they came, deltas joined by index), ``usage``, ``finish`` and the raw
    ``items`` in order."""

    items: list[Any]
    text: str = ""
    chunks: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None
    finish: str | None = None


def _collect(items: Iterable[Any]) -> Outcome:
    """Run a completion to its end and sort what it yielded (the core will assemble
    ``ToolCallDelta`` pieces the same way: by index, arguments concatenated)."""
    out = Outcome(items=list(items))
    deltas: dict[int, list[ToolCallDelta]] = {}
    for item in out.items:
        if isinstance(item, str):
            assert item, "an empty text chunk was yielded"
            out.chunks.append(item)
        elif isinstance(item, ToolCall):
            out.tool_calls.append(item)
        elif isinstance(item, ToolCallDelta):
            deltas.setdefault(item.index, []).append(item)
        elif isinstance(item, Usage):
            assert out.usage is None, "Usage was yielded twice"
            out.usage = item
        elif isinstance(item, FinishReason):
            out.finish = item.reason
        else:
            raise AssertionError(f"unexpected item {item!r}")
    for index in sorted(deltas):
        first = deltas[index][0]
        assert first.id and first.name, "the first delta of a call must carry its id and name"
        out.tool_calls.append(ToolCall(first.id, first.name, "".join(d.arguments for d in deltas[index])))
    assert out.items and isinstance(out.items[-1], FinishReason), "FinishReason must come last"
    out.text = "".join(out.chunks)
    return out


@pytest.fixture
def collect():
    """``collect(completion) -> Outcome``: see :class:`Outcome`."""
    return _collect


@pytest.fixture
def key() -> str:
    """The API key the ``gemini`` fixture's provider sends."""
    return KEY
