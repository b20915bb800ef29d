"""The provider against the loopback Anthropic server, over real sockets: what it yields,
what it sends, and every error row."""

from __future__ import annotations

import json

import pytest
from provider_anthropic import Anthropic, configured
from provider_anthropic.server import (
    SSE_HEADERS,
    error_event,
    error_reply,
    message_reply,
    sse,
    stream_events,
    stream_reply,
)

from provider_core.errors import (
    EmptyResponse,
    InvalidMessages,
    ModelNotSupported,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeout,
    StreamInterrupted,
    UpstreamError,
)
from provider_core.events import FinishReason, ToolCall, Usage
from provider_core.testing.server import Reply, refused_url

KEY = "sk-ant-test-0123456789"
USER = [{"role": "user", "content": "hi"}]
PIECES = ["Привет", ", ", "мир ", "🌍", "! ", "naïve café ", "世界"]


# -- text -----------------------------------------------------------------------------------


@pytest.mark.parametrize("split", [1, 2, 3, 7, None])
@pytest.mark.parametrize("line_ending", ["\n", "\r\n"])
def test_streamed_text_arrives_exactly_however_the_bytes_are_cut(server, complete, split, line_ending):
    server.enqueue(stream_reply(PIECES, split=split, line_ending=line_ending, thinking=["hm"], usage=(12, 8)))
    result = complete()
    assert result.pieces == PIECES
    assert (result.usage, result.finish) == (Usage(12, 8), "stop")


def test_non_streamed_text_usage_and_finish(server, complete):
    server.enqueue(message_reply("The whole answer.", usage=(9, 4), stop_reason="max_tokens"))
    result = complete(stream=False)
    assert result.items == ["The whole answer.", Usage(9, 4), FinishReason("length")]


def test_the_echo_server_answers_both_ways(complete):
    assert complete(stream=True).text == "hi"
    assert complete(stream=False).text == "hi"


# -- tool calls -------------------------------------------------------------------------------


def test_streamed_tool_calls_assemble_from_the_deltas(server, complete):
    calls = [("toolu_01Paris", "weather", ['{"city"', ': "Par', 'is"}']), ("toolu_01Now", "clock", [])]
    server.enqueue(stream_reply(["Checking."], calls, split=5))
    result = complete(tools=[{"type": "function", "function": {"name": "weather"}}])
    assert result.text == "Checking."
    assert result.tool_calls == [
        ToolCall("toolu_01Paris", "weather", '{"city": "Paris"}'),
        ToolCall("toolu_01Now", "clock", "{}"),
    ]
    assert result.finish == "tool_calls"


def test_non_streamed_tool_calls_arrive_whole(server, complete):
    server.enqueue(message_reply(None, [("toolu_01X", "weather", ['{"city": "Oslo"}'])]))
    result = complete(stream=False)
    assert result.items[0] == ToolCall("toolu_01X", "weather", '{"city": "Oslo"}')
    assert result.finish == "tool_calls"


def test_a_tool_loop_is_sent_as_anthropic_blocks(server, complete, last_body):
    messages = [
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "toolu_01X", "type": "function", "function": {"name": "weather", "arguments": '{"c": 1}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_01X", "content": "-3C, snow"},
    ]
    assert complete(messages).text == "The tool said: -3C, snow"  # the echo server answers the result
    body = last_body()
    assert body["system"] == "Use tools."
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "toolu_01X", "name": "weather", "input": {"c": 1}}
    ]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_01X", "content": "-3C, snow"}
    ]


# -- what is sent -------------------------------------------------------------------------------


def test_headers_and_body_fields(server, complete, last_body):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    complete(temperature=0.25, stop="###", seed=7, max_tokens=99, tools=tools, tool_choice="auto")
    (request,) = server.messages_requests
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "text/event-stream"
    assert last_body() == {
        "model": "claude-sonnet-4-6",
        "max_tokens": 99,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "temperature": 0.25,
        "stop_sequences": ["###"],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "auto"},
        "stream": True,
    }


def test_the_environment_key_and_base_url(server, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url + "/")
    cls = configured(__import__("os").environ)
    assert "".join(i for i in cls.create_completion("", USER, True) if isinstance(i, str)) == "hi"
    (request,) = server.messages_requests
    assert request.headers["x-api-key"] == KEY
    assert json.loads(request.body)["model"] == "claude-opus-5-5"  # the default model


def test_the_environment_key_never_goes_to_a_base_url_given_per_call(server, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    cls = configured(__import__("os").environ)
    with pytest.raises(ProviderError, match="no API key") as info:
        list(cls.create_completion("claude-sonnet-4-6", USER, True, base_url=server.url))
    assert info.value.fallback_ok and server.requests == []
    list(cls.create_completion("claude-sonnet-4-6", USER, True, base_url=server.url, api_key="sk-other-key"))
    assert server.messages_requests[0].headers["x-api-key"] == "sk-other-key"


def test_unknown_model_and_bad_input_are_refused_before_sending(server, complete):
    with pytest.raises(ModelNotSupported) as info:
        complete(model="claude-sonet-4-6")
    assert info.value.suggestions[0] == "claude-sonnet-4-6"
    with pytest.raises(InvalidMessages, match="response_format"):
        complete(response_format={"type": "json_object"})  # valid for the core, not for Anthropic
    assert server.requests == []


TOOL = {"type": "function", "function": {"name": "f"}}


@pytest.mark.parametrize(
    ("messages", "options", "where"),
    [
        ([{"role": "robot", "content": "hi"}], {}, "messages[0].role"),
        ([{"role": "user"}], {}, "messages[0].content"),
        ([{"role": "user", "content": 42}], {}, "messages[0].content"),
        ([{"role": "user", "content": [{"type": "audio"}]}], {}, "messages[0].content[0]"),
        (
            [{"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}],
            {},
            "messages[0].content[0].type",
        ),
        (USER, {"temperature": 2.5}, "temperature"),
        (USER, {"tool_choice": "required"}, "tool_choice"),
        (USER, {"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "g"}}}, "tool_choice"),
    ],
)
def test_a_direct_call_with_what_the_core_refuses_raises_before_sending(server, complete, messages, options, where):
    """The provider does not check shapes itself: AbstractProvider's wrapper does it for a
    direct call, as provider_core.create_completion does for a routed one."""
    with pytest.raises(InvalidMessages) as info:
        complete(messages, **options)
    assert info.value.errors[0][0].startswith(where)
    assert server.requests == []


def test_a_pooled_connection_is_reused_after_message_stop(server, complete):
    for _ in range(3):
        server.enqueue(stream_reply(["a", "b"]))
        assert complete().text == "ab"
    assert len({r.connection for r in server.messages_requests}) == 1


def test_close_early_closes_the_connection(server):
    server.enqueue(stream_reply([f"{n} " for n in range(200)], split=200, delay_between=0.02))
    it = Anthropic.create_completion("claude-sonnet-4-6", USER, True, base_url=server.url, api_key=KEY)
    assert next(it) == "0 "
    it.close()
    (request,) = server.messages_requests
    assert request.done.wait(10)
    assert request.outcome == "client-gone"


# -- HTTP errors --------------------------------------------------------------------------------

HTTP_ROWS = [
    (400, "invalid_request_error", "max_tokens: Field required", None, False),
    (401, "authentication_error", "invalid x-api-key", None, True),
    (403, "permission_error", "Your API key does not have permission", None, True),
    (404, "not_found_error", "model: claude-x", None, True),
    (413, "request_too_large", "Request exceeds the maximum allowed number of bytes", None, False),
    (429, "rate_limit_error", "Number of request tokens has exceeded your rate limit", 17.0, True),
    (500, "api_error", "Internal server error", None, True),
    (503, "api_error", "Service unavailable", 5.0, True),
    (529, "overloaded_error", "Overloaded", 30.0, True),
]


@pytest.mark.parametrize(("status", "error_type", "text", "retry", "fallback"), HTTP_ROWS)
@pytest.mark.parametrize("stream", [True, False])
def test_http_errors(server, complete, status, error_type, text, retry, fallback, stream):
    server.enqueue(error_reply(status, error_type, text, retry_after=retry))
    with pytest.raises(ProviderHTTPError) as info:
        complete(stream=stream)
    exc = info.value
    assert (exc.status_code, exc.error_type, exc.body_excerpt) == (status, error_type, text)
    assert (exc.fallback_ok, exc.retry_after, exc.provider) == (fallback, retry, "Anthropic")
    assert f"[{error_type}] {text}" in str(exc)


def test_a_key_echoed_in_an_http_error_is_redacted(server, complete):
    server.enqueue(error_reply(401, "authentication_error", f"invalid x-api-key: {KEY}"))
    with pytest.raises(ProviderHTTPError) as info:
        complete()
    assert KEY not in str(info.value) + info.value.body_excerpt + repr(info.value)


# -- errors inside a 200 stream --------------------------------------------------------------------


def test_an_error_event_before_the_first_text_is_an_upstream_error(server, complete):
    server.enqueue(stream_reply(["never"], error=("overloaded_error", "Overloaded"), error_after=0))
    with pytest.raises(UpstreamError) as info:
        complete()
    assert (info.value.error_type, info.value.fallback_ok, info.value.retry_after) == ("overloaded_error", True, None)
    server.enqueue(stream_reply(["x"], error=("invalid_request_error", "prompt is too long"), error_after=0))
    with pytest.raises(UpstreamError) as info:
        complete()
    assert info.value.fallback_ok is False


def test_an_error_event_mid_stream_interrupts_after_the_text_already_yielded(server):
    server.enqueue(stream_reply(["Once ", "upon ", "a time"], error=("overloaded_error", "Overloaded"), error_after=2))
    got = []
    with pytest.raises(StreamInterrupted) as info:
        for item in Anthropic.create_completion("claude-sonnet-4-6", USER, True, base_url=server.url, api_key=KEY):
            got.append(item)
    assert got == ["Once ", "upon "]
    assert (info.value.received_chars, info.value.received_chunks) == (10, 2)
    assert "upstream error after 10 characters" in str(info.value)


def test_an_error_event_echoing_the_key_never_shows_it(server, complete):
    server.enqueue(stream_reply(events=[*stream_events([])[:1], error_event("authentication_error", f"bad {KEY}")]))
    with pytest.raises(UpstreamError) as info:
        complete()
    server.enqueue(stream_reply(["abc"], error=("api_error", f"oops {KEY} oops"), error_after=1))
    with pytest.raises(StreamInterrupted) as later:
        complete()
    for exc in (info.value, later.value):
        assert KEY not in str(exc) + repr(exc) and "[redacted]" in str(exc)


def test_a_200_error_body_without_stream(server, complete):
    body = json.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    server.enqueue(Reply(200, body=body, headers={"content-type": "application/json"}, framing="length"))
    with pytest.raises(UpstreamError, match=r"\[overloaded_error\] Overloaded"):
        complete(stream=False)


def test_a_reply_with_nothing_in_it_is_empty(server, complete):
    server.enqueue(stream_reply([]), message_reply(None))
    with pytest.raises(EmptyResponse):
        complete()
    with pytest.raises(EmptyResponse):
        complete(stream=False)


# -- broken streams -------------------------------------------------------------------------------


def test_a_stream_cut_before_message_stop_is_interrupted(server):
    server.enqueue(stream_reply(["Once upon ", "a time"], terminal=False))
    got = []
    with pytest.raises(StreamInterrupted, match="without message_stop after 16 characters"):
        for item in Anthropic.create_completion("claude-sonnet-4-6", USER, True, base_url=server.url, api_key=KEY):
            got.append(item)
    assert "".join(got) == "Once upon a time"


def test_a_stream_cut_before_any_text_is_a_connection_error(server, complete):
    server.enqueue(stream_reply(events=stream_events([])[:2]))
    with pytest.raises(ProviderConnectionError) as info:
        complete()
    assert info.value.fallback_ok


def test_a_cut_after_some_text_is_interrupted_and_a_reset_before_any_is_a_connection_error(server, complete):
    events = stream_events(["abc", "def"])
    head, rest = sse(*events[:4]), sse(*events[4:])  # head: one HTTP chunk, ending after "abc"
    server.enqueue(Reply(200, body=[head, rest], headers=SSE_HEADERS, close_after=len(head.encode())))
    with pytest.raises(StreamInterrupted) as info:
        complete()
    assert (info.value.received_chars, info.value.received_chunks) == (3, 1)
    server.enqueue(stream_reply(["abc"], reset_after=10))
    with pytest.raises(ProviderConnectionError) as early:
        complete()
    assert early.value.fallback_ok


def test_a_slow_first_byte_times_out_and_a_refused_connection_is_a_connection_error(server):
    server.enqueue(stream_reply(["late"], delay_before=5))
    with pytest.raises(ProviderTimeout) as info:
        list(
            Anthropic.create_completion(
                "claude-sonnet-4-6", USER, True, base_url=server.url, api_key=KEY, timeout=(5, 0.2)
            )
        )
    assert info.value.kind == "read-timeout" and info.value.fallback_ok
    with pytest.raises(ProviderConnectionError) as refused:
        list(Anthropic.create_completion("claude-sonnet-4-6", USER, True, base_url=refused_url(), api_key=KEY))
    assert refused.value.kind == "refused"


def test_what_the_provider_sends_passes_the_servers_checks(server, complete):
    """The server refuses what Anthropic refuses (e.g. no max_tokens); everything above got
    through it, and so does a conversation of every shape."""
    messages = [
        {"role": "system", "content": "s"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
            ],
        },
        {"role": "user", "content": "again"},
        {
            "role": "assistant",
            "content": "ok",
            "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "t1", "content": "done"},
        {"role": "user", "content": "and now?"},
    ]
    assert complete(messages, stream=False).text == "and now?"
    assert server.server.errors == []
