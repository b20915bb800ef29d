"""Completions through llm's Python API, end to end on loopback: llm's built-in
OpenAI-compatible model, configured in ``extra-openai-models.yaml`` (a temporary
``LLM_USER_PATH``), talking to the OpenAI plugin's protocol server. Text streamed and not,
usage, tool calls, what is sent, keys, and every error row."""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import provider_llm
import pytest
from provider_llm.faults import MissingKey
from provider_openai.server import OpenAIServer

from provider_core.errors import (
    EmptyResponse,
    NoProviderAvailable,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    StreamInterrupted,
)
from provider_core.events import FinishReason, ToolCallDelta, Usage
from provider_core.provider import AbstractProvider
from provider_core.registry import Registry
from provider_core.testing.server import Reply, refused_url, split_bytes

KEY = "sk-loop-SECRET-7777"
HI = [{"role": "user", "content": "Hi"}]
#: Whether the core relays version-2 events (a routed completion of this bridge needs it).


def registry(*extra: type) -> Registry:
    reg = Registry(load_entry_points=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg.add_plugin(provider_llm, "llm")
    for cls in extra:
        reg.register(cls)
    return reg


def provider(name: str = "llm-default") -> Any:
    return registry().get(name)


def text(items: list[Any]) -> str:
    return "".join(i for i in items if isinstance(i, str))


@pytest.fixture
def server(loopback_model: Callable[..., OpenAIServer]) -> OpenAIServer:
    return loopback_model()


def test_streamed(server: OpenAIServer, replies: Any) -> None:
    server.enqueue(replies.stream(["Hel", "lo, ", "wörld 😀"]))
    items = list(provider().create_completion("loop", HI, True))
    assert items == ["Hel", "lo, ", "wörld 😀", Usage(5, 3, 8), FinishReason("stop")]
    (chat,) = server.chats
    assert chat.json["stream"] is True and chat.json["model"] == "demo"
    assert chat.json["messages"] == HI
    assert chat.headers["authorization"] == "Bearer DUMMY_KEY"  # a keyless extra model: llm's placeholder


def test_not_streamed(server: OpenAIServer, replies: Any) -> None:
    server.enqueue(replies.whole("The whole reply."))
    items = list(provider().create_completion("loop", HI, False))
    assert items == ["The whole reply.", Usage(4, 2, 6), FinishReason("stop")]
    assert server.chats[0].json["stream"] is False


def test_a_model_that_cannot_stream_answers_whole(loopback_model: Callable[..., OpenAIServer], replies: Any) -> None:
    server = loopback_model(can_stream=False)
    server.enqueue(replies.whole("whole"))
    assert text(list(provider().create_completion("loop", HI, True))) == "whole"
    assert server.chats[0].json["stream"] is False


def test_history_system_and_options_are_sent(server: OpenAIServer, replies: Any) -> None:
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Привет"},
        {"role": "assistant", "content": "你好"},
        {"role": "user", "content": "And now?"},
    ]
    server.enqueue(replies.stream(["ok"]))
    options = {"temperature": 0.25, "max_tokens": 7, "stop": ["END"], "seed": 42, "top_k": 3}
    list(provider().create_completion("loop", messages, True, **options))
    body = server.chats[0].json
    assert body["messages"] == messages
    assert (body["temperature"], body["max_tokens"], body["stop"], body["seed"]) == (0.25, 7, "END", 42)
    assert "top_k" not in body  # no such llm option: dropped


def test_streamed_tool_calls(server: OpenAIServer, replies: Any) -> None:
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    server.enqueue(replies.tool_stream("weather", ['{"city": ', '"Oslo"}']))
    items = list(provider().create_completion("loop", HI, True, tools=tools))
    assert items == [
        ToolCallDelta(0, id="call_1", name="weather"),
        ToolCallDelta(0, arguments='{"city": '),
        ToolCallDelta(0, arguments='"Oslo"}'),
        Usage(7, 2),
        FinishReason("tool_calls"),
    ]
    assert server.chats[0].json["tools"][0]["function"]["name"] == "weather"


def test_tool_calls_not_streamed(server: OpenAIServer, replies: Any) -> None:
    call = {"id": "call_9", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Rome"}'}}
    server.enqueue(replies.whole(None, tool_calls=[call]))
    tools = [{"type": "function", "function": {"name": "weather"}}]
    items = list(provider().create_completion("loop", HI, False, tools=tools))
    assert items == [
        ToolCallDelta(0, id="call_9", name="weather"),
        ToolCallDelta(0, arguments='{"city": "Rome"}'),
        Usage(4, 2),
        FinishReason("tool_calls"),
    ]


def test_the_stored_key_is_sent(
    loopback_model: Callable[..., OpenAIServer], write_keys: Callable, replies: Any
) -> None:
    server = loopback_model(api_key_name="loopkey")
    server.api_key = KEY
    write_keys({"loopkey": KEY})
    server.enqueue(replies.stream(["keyed"]))
    assert text(list(provider().create_completion("loop", HI, True))) == "keyed"
    assert server.chats[0].headers["authorization"] == f"Bearer {KEY}"


def test_a_key_given_for_the_call(loopback_model: Callable[..., OpenAIServer], replies: Any) -> None:
    server = loopback_model(api_key_name="loopkey")
    server.api_key = KEY
    server.enqueue(replies.stream(["given"]))
    needs_key = provider("llm-default")
    assert not needs_key.working
    assert text(list(needs_key.create_completion("loop", HI, True, api_key=KEY))) == "given"


def test_a_missing_key_sends_nothing(loopback_model: Callable[..., OpenAIServer]) -> None:
    server = loopback_model(api_key_name="loopkey")
    with pytest.raises(MissingKey, match=r"no key for 'loopkey' \(llm keys set loopkey, or OPENAI_API_KEY\)") as caught:
        list(provider().create_completion("loop", HI, True))
    assert caught.value.fallback_ok
    assert server.requests == []
    with pytest.raises(NoProviderAvailable, match=r"llm-default: .*; no key for 'loopkey' \(llm keys set loopkey"):
        registry().route("loop")


@pytest.mark.parametrize(("status", "fallback"), [(400, False), (401, True), (404, True), (500, True), (503, True)])
def test_http_errors(server: OpenAIServer, replies: Any, status: int, fallback: bool) -> None:
    server.enqueue(replies.error(status, f"scripted {status}"))
    with pytest.raises(ProviderHTTPError) as caught:
        list(provider().create_completion("loop", HI, True))
    error = caught.value
    assert (error.status_code, error.fallback_ok, error.provider) == (status, fallback, "llm-default")
    assert (error.error_type, error.error_code) == ("invalid_request_error", "pcfix")
    assert f"scripted {status}" in str(error) and error.url.endswith("/v1/chat/completions")
    assert error.__cause__ is None  # the SDK's exception, which holds the request headers, is not kept


def test_429_carries_retry_after(server: OpenAIServer, replies: Any) -> None:
    server.enqueue(replies.error(429, "slow down", headers={"retry-after": "3"}))
    with pytest.raises(ProviderHTTPError) as caught:
        list(provider().create_completion("loop", HI, False))
    assert (caught.value.status_code, caught.value.retry_after, caught.value.fallback_ok) == (429, 3.0, True)


def test_a_key_quoted_back_never_shows(loopback_model: Callable[..., OpenAIServer], write_keys, replies) -> None:
    server = loopback_model(api_key_name="loopkey")
    write_keys({"loopkey": KEY})
    server.enqueue(replies.error(401, f"Incorrect API key provided: {KEY}"))
    with pytest.raises(ProviderHTTPError) as caught:
        list(provider().create_completion("loop", HI, True))
    assert KEY not in str(caught.value) and KEY not in caught.value.body_excerpt
    assert "[redacted]" in str(caught.value)


def test_connection_refused(loopback_model: Callable[..., OpenAIServer]) -> None:
    loopback_model(url=refused_url() + "/v1")
    with pytest.raises(ProviderConnectionError) as caught:
        list(provider().create_completion("loop", HI, True))
    assert (caught.value.kind, caught.value.fallback_ok) == ("refused", True)
    assert "connection refused" in str(caught.value)


def test_a_reset_after_text_is_an_interruption(server: OpenAIServer, replies: Any) -> None:
    reply = replies.stream(["first part, ", "second part"])
    body = reply.body if isinstance(reply.body, bytes) else b""
    server.enqueue(replace(reply, reset_after=body.index(b"second part") - 40))
    got: list[Any] = []
    with pytest.raises(StreamInterrupted) as caught:
        for item in provider().create_completion("loop", HI, True):
            got.append(item)
    assert got and caught.value.received_chars == len(text(got))
    assert caught.value.kind == "reset"


def test_a_stream_cut_short_is_an_interruption(server: OpenAIServer, replies: Any) -> None:
    server.enqueue(replies.stream(["Hel", "lo"], finish=None, usage=None, done=False))
    got: list[Any] = []
    with pytest.raises(StreamInterrupted, match="without a finish reason") as caught:
        for item in provider().create_completion("loop", HI, True):
            got.append(item)
    assert text(got) == "Hello" and caught.value.received_chars == 5


def test_an_empty_reply(server: OpenAIServer) -> None:
    server.enqueue(Reply(200, body=b"", headers={"content-type": "text/event-stream"}, framing="length"))
    with pytest.raises(EmptyResponse):
        list(provider().create_completion("loop", HI, True))


def test_a_plugin_bug_is_a_provider_error_not_a_traceback(server: OpenAIServer) -> None:
    # llm's OpenAI model reads usage from every non-streamed reply; this one has none
    server.enqueue(Reply(200, body=b'{"id": "x", "object": "chat.completion", "choices": []}', framing="length"))
    with pytest.raises(ProviderError, match=r"llm-default: llm model 'loop' raised \w+Error") as caught:
        list(provider().create_completion("loop", HI, False))
    assert type(caught.value) is ProviderError and caught.value.fallback_ok


class Backup(AbstractProvider):
    name = "backup"
    working = True
    supports_stream = True
    priority = -5  # after llm-default (-1)
    models = {"loop": "loop"}  # noqa: RUF012

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):  # type: ignore[no-untyped-def]
        yield "from the backup"


def test_routing_falls_back_before_the_first_chunk(server: OpenAIServer, replies: Any) -> None:
    import provider_core

    server.enqueue(replies.error(503, "overloaded"))
    reg = registry(Backup)
    assert [p.name for p in reg.route("loop")] == ["llm-default", "backup"]
    with pytest.warns(provider_core.FallbackWarning, match="llm-default"):
        reply = provider_core.create_completion("loop", HI, registry=reg, stream=False)
    assert reply == "from the backup"
    server.enqueue(replies.error(400, "bad request"))
    with pytest.raises(ProviderHTTPError, match="bad request"):  # our own bad request: no fallback
        provider_core.create_completion("loop", HI, registry=reg, stream=False)


def test_routed_through_the_core(server: OpenAIServer, replies: Any) -> None:  # pragma: no cover - v2 core
    import provider_core

    server.enqueue(replies.stream(["routed"]))
    completion = provider_core.create_completion("loop", HI, registry=registry())
    assert "".join(completion) == "routed"
    assert completion.usage == Usage(5, 3)


@pytest.mark.parametrize("native", [False, True])
def test_closing_early_closes_the_connection(server: OpenAIServer, replies: Any, native: bool) -> None:
    gate = threading.Event()
    held = replace(replies.stream(["first ", "second ", "third"]), hold=gate, hold_timeout=30.0, gone_after_hold=True)
    server.enqueue(replace(held, body=split_bytes(held.body, 64)))
    cls = provider()
    if native:

        async def first() -> Any:
            items = cls.acreate_completion("loop", HI, True)
            item = await items.__anext__()
            await items.aclose()
            return item

        assert asyncio.run(first()) == "first "
    else:
        items = cls.create_completion("loop", HI, True)
        assert next(items) == "first "
        items.close()
    gate.set()  # the server sends the rest only if the client is still there
    (request,) = server.chats
    assert request.done.wait(30.0)
    assert request.outcome == "client-gone"
