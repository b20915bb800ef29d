"""Completions of a third-party llm plugin (the tiny one the tests install), sync and
async: its key from each source, what its model sees, its tool calls, its async-only
model, and each kind of failure it can raise."""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import provider_llm
import pytest
from provider_llm.faults import MissingKey

from provider_core.errors import EmptyResponse, InvalidMessages, ModelNotSupported, ProviderError, StreamInterrupted
from provider_core.events import FinishReason, ToolCall, ToolCallDelta, Usage
from provider_core.registry import Registry

KEY = "sk-pcfix-SECRET-31337"


@pytest.fixture
def echo(use_site: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> type:
    """The ``llm-pcfix_echo`` provider, its key in ``PCFIX_ECHO_KEY``."""
    use_site("good")
    monkeypatch.setenv("PCFIX_ECHO_KEY", KEY)
    reg = Registry(load_entry_points=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg.add_plugin(provider_llm, "llm")
    return reg.get("llm-pcfix_echo")


def ask(provider: type, prompt: str, *, model: str = "pcfix-echo", stream: bool = True, **options: Any) -> list:
    return list(provider.create_completion(model, [{"role": "user", "content": prompt}], stream, **options))


async def _collect(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


def aask(provider: type, prompt: str, *, model: str = "pcfix-echo", stream: bool = True, **options: Any) -> list:
    messages = [{"role": "user", "content": prompt}]
    return asyncio.run(_collect(provider.acreate_completion(model, messages, stream, **options)))


def test_text_usage_and_finish(echo: type) -> None:
    assert ask(echo, "hello big world") == ["hello ", "big ", "world", Usage(4, 3), FinishReason("stop")]
    assert ask(echo, "think")[0] == "think"  # the reasoning event before it is not text


def test_the_key_llm_would_use(echo: type, write_keys: Callable) -> None:
    assert ask(echo, "show key")[0] == f"key={KEY}"  # the environment variable
    write_keys({"pcfix": "sk-pcfix-from-the-store", "other": "sk-other-from-the-store"})
    assert ask(echo, "show key")[0] == "key=sk-pcfix-from-the-store"  # the store wins, as in llm
    assert ask(echo, "show key", api_key="other")[0] == "key=sk-other-from-the-store"  # an alias for the call
    assert ask(echo, "show key", api_key="sk-given-for-the-call")[0] == "key=sk-given-for-the-call"


def test_a_missing_key(echo: type, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PCFIX_ECHO_KEY")
    with pytest.raises(MissingKey, match=r"pcfix-echo: no key for 'pcfix' \(llm keys set pcfix, or PCFIX_ECHO_KEY\)"):
        ask(echo, "hi")


def test_options_reach_the_model_under_its_own_names(echo: type) -> None:
    (reply, *_) = ask(echo, "options", temperature=0.5, max_tokens=12, seed=1)
    assert json.loads(reply) == {"temperature": 0.5, "max_output_tokens": 12}
    with pytest.raises(InvalidMessages, match="llm option no_such_option"):
        ask(echo, "options", llm_options={"no_such_option": 1})


def test_the_model_sees_the_conversation(echo: type) -> None:
    messages = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "u1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "history"},
    ]
    (reply, *_) = list(echo.create_completion("pcfix-echo", messages, False))
    seen = [(m["role"], m["parts"][0]["text"]) for m in json.loads(reply)]
    assert seen == [("system", "S"), ("user", "u1"), ("assistant", "a1"), ("user", "history")]


def test_tools_whole_and_streamed(echo: type) -> None:
    tools = [{"type": "function", "function": {"name": "lookup"}}]
    assert json.loads(ask(echo, "tools", tools=tools)[0]) == ["lookup"]
    assert ask(echo, "whole tool", tools=tools) == [
        ToolCall("call_w", "lookup", '{"q": "x"}'),
        FinishReason("tool_calls"),
    ]
    assert ask(echo, "streamed tool", tools=tools) == [
        ToolCallDelta(0, id="call_s", name="lookup"),
        ToolCallDelta(0, arguments='{"q": '),
        ToolCallDelta(0, arguments='"y"}'),
        FinishReason("tool_calls"),
    ]


def test_what_a_model_cannot_take_is_refused_before_sending(echo: type) -> None:
    tools = [{"type": "function", "function": {"name": "lookup"}}]
    with pytest.raises(ModelNotSupported, match="'pcfix-free' does not support tools") as caught:
        ask(echo, "hi", model="pcfix-free", tools=tools)
    assert caught.value.fallback_ok  # another provider of the model may take it
    history = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    with pytest.raises(ModelNotSupported, match="one turn only"):
        list(echo.create_completion("pcfix-free", history, True))


def test_failures(echo: type) -> None:
    with pytest.raises(
        ProviderError, match=r"llm model 'pcfix-echo' raised RuntimeError: the echo plugin broke"
    ) as bug:
        ask(echo, "boom")
    assert type(bug.value) is ProviderError and isinstance(bug.value.__cause__, RuntimeError)
    from provider_core.errors import ProviderHTTPError

    with pytest.raises(ProviderHTTPError) as http:
        ask(echo, "status 503")
    assert (http.value.status_code, http.value.retry_after, http.value.fallback_ok) == (503, 7.0, True)
    got: list[Any] = []
    with pytest.raises(StreamInterrupted, match="after 8 characters: connection reset") as cut:
        for item in echo.create_completion("pcfix-echo", [{"role": "user", "content": "late boom"}], True):
            got.append(item)
    assert got == ["partial "] and (cut.value.received_chars, cut.value.kind) == (8, "reset")
    with pytest.raises(EmptyResponse):
        ask(echo, "nothing")


def test_a_model_without_streaming_and_without_async(echo: type) -> None:
    assert ask(echo, "one two", model="pcfix-free")[:2] == ["one ", "two"]
    assert aask(echo, "one two", model="pcfix-free")[:2] == ["one ", "two"]  # sync steps in threads


def test_the_async_model(echo: type) -> None:
    assert aask(echo, "show key")[0] == f"key=async:{KEY}"  # the async model answered
    assert aask(echo, "a b", stream=False) == ["a ", "b", Usage(3, 2), FinishReason("stop")]
    with pytest.raises(StreamInterrupted):
        aask(echo, "late boom")
    from provider_core.errors import ProviderHTTPError

    with pytest.raises(ProviderHTTPError):
        aask(echo, "status 429")


def test_an_async_only_model_from_sync_code(echo: type) -> None:
    assert ask(echo, "x y", model="pcfix-async") == ["x ", "y", Usage(3, 2), FinishReason("stop")]
    assert aask(echo, "x y", model="pcfix-async")[:2] == ["x ", "y"]


def test_closing_an_async_reply_early(echo: type) -> None:
    async def first() -> Any:
        items = echo.acreate_completion("pcfix-echo", [{"role": "user", "content": "a b c"}], True)
        item = await items.__anext__()
        await items.aclose()
        return item

    assert asyncio.run(first()) == "a "
