"""The official ``anthropic`` SDK (a test dependency only) against the loopback server: it
must parse every reply the other tests rely on (plain, streamed, tool calls, usage, every
stop reason, thinking blocks, models pages) and raise its own error types for the faults.
This is what makes the server a faithful stand-in for the real API."""

from __future__ import annotations

import pytest
from provider_anthropic.server import AnthropicServer, error_reply, message_reply, stream_reply

anthropic = pytest.importorskip("anthropic")

USER = [{"role": "user", "content": "Hello there"}]
MODEL = "claude-sonnet-4-6"
CALLS = [("toolu_01Paris", "weather", ['{"city"', ': "Paris"}']), ("toolu_01Now", "clock", [])]


@pytest.fixture
def client(server):
    return anthropic.Anthropic(base_url=server.url, api_key="sk-ant-any", max_retries=0, timeout=10)


def test_messages_create_parses_the_echo_and_a_scripted_reply(server, client):
    reply = client.messages.create(model=MODEL, max_tokens=50, messages=USER)
    assert [b.text for b in reply.content] == ["Hello there"]
    assert (reply.stop_reason, reply.role, reply.model) == ("end_turn", "assistant", MODEL)
    server.enqueue(message_reply("Answer", CALLS, usage=(31, 12)))
    reply = client.messages.create(model=MODEL, max_tokens=50, messages=USER)
    assert [b.type for b in reply.content] == ["text", "tool_use", "tool_use"]
    assert (reply.content[1].id, reply.content[1].name, reply.content[1].input) == (
        "toolu_01Paris",
        "weather",
        {"city": "Paris"},
    )
    assert reply.content[2].input == {}
    assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.stop_reason) == (31, 12, "tool_use")


@pytest.mark.parametrize("split", [1, 5, None])
def test_the_stream_helper_accumulates_text_thinking_tool_calls_and_usage(server, client, split):
    server.enqueue(stream_reply(["Привет, ", "世界 🌍"], CALLS, thinking=["hmm"], split=split, usage=(25, 40)))
    with client.messages.stream(model=MODEL, max_tokens=50, messages=USER) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Привет, 世界 🌍"
    assert [b.type for b in final.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert final.content[2].input == {"city": "Paris"} and final.content[3].input == {}
    assert (final.usage.input_tokens, final.usage.output_tokens, final.stop_reason) == (25, 40, "tool_use")


def test_raw_stream_events_in_order(server, client):
    server.enqueue(stream_reply(["a", "b"]))
    events = list(client.messages.create(model=MODEL, max_tokens=50, messages=USER, stream=True))
    assert [e.type for e in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[0].message.usage.input_tokens == 10 and events[-2].usage.output_tokens == 5


@pytest.mark.parametrize("stream", [False, True])
def test_the_echo_runs_a_tool_loop_the_sdk_follows(server, client, stream):
    """Unscripted: with tools, the echo calls the first one; given the result, it answers."""
    tools = [{"name": "weather", "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}}}]
    if stream:
        with client.messages.stream(model=MODEL, max_tokens=50, messages=USER, tools=tools) as events:
            first = events.get_final_message()
    else:
        first = client.messages.create(model=MODEL, max_tokens=50, messages=USER, tools=tools)
    (call,) = first.content
    assert (call.type, call.name, call.input) == ("tool_use", "weather", {"query": "Hello there"})
    assert first.stop_reason == "tool_use"
    assert call.id == f"toolu_loopback_{len(server.messages_requests):04d}"
    result = {"type": "tool_result", "tool_use_id": call.id, "content": [{"type": "text", "text": "18C"}]}
    turns = [*USER, {"role": "assistant", "content": first.content}, {"role": "user", "content": [result]}]
    final = client.messages.create(model=MODEL, max_tokens=50, messages=turns, tools=tools)
    assert [b.text for b in final.content] == ["The tool said: 18C"] and final.stop_reason == "end_turn"
    none = client.messages.create(model=MODEL, max_tokens=50, messages=USER, tools=tools, tool_choice={"type": "none"})
    assert [b.text for b in none.content] == ["Hello there"]


@pytest.mark.parametrize("stop", ["end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal", "pause_turn"])
def test_every_stop_reason_parses(server, client, stop):
    server.enqueue(stream_reply(["x"], stop_reason=stop), message_reply("x", stop_reason=stop))
    with client.messages.stream(model=MODEL, max_tokens=5, messages=USER) as stream:
        assert stream.get_final_message().stop_reason == stop
    assert client.messages.create(model=MODEL, max_tokens=5, messages=USER).stop_reason == stop


def test_the_models_list_pages_as_the_sdk_expects(client):
    first = client.models.list(limit=3)
    assert [m.id for m in first.data] == ["claude-opus-5-5", "claude-fable-5-1", "claude-sonnet-5-5"]
    assert first.has_more and first.last_id == "claude-sonnet-5-5"
    everything = [m.id for m in client.models.list(limit=4)]  # the SDK follows after_id
    assert len(everything) == len(AnthropicServer().models) and everything[-1] == "claude-haiku-4-5-20251001"
    assert client.models.retrieve("claude-opus-4-7").display_name == "Claude Opus 4.7"


def test_a_bearer_token_is_accepted_and_no_key_is_refused(server):
    bearer = anthropic.Anthropic(base_url=server.url, auth_token="tok-123", max_retries=0)
    assert bearer.messages.create(model=MODEL, max_tokens=5, messages=USER).content[0].text == "Hello there"
    assert server.messages_requests[-1].headers["authorization"] == "Bearer tok-123"
    with AnthropicServer(api_key="right") as strict:
        wrong = anthropic.Anthropic(base_url=strict.url, api_key="wrong", max_retries=0)
        with pytest.raises(anthropic.AuthenticationError):
            wrong.messages.create(model=MODEL, max_tokens=5, messages=USER)


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (error_reply(529, "overloaded_error", "Overloaded", retry_after=30), "OverloadedError"),
        (error_reply(503, "api_error", "Service unavailable", retry_after=5), "ServiceUnavailableError"),
        (error_reply(429, "rate_limit_error", "Slow down", retry_after=17), "RateLimitError"),
        (error_reply(500, "api_error", "Internal server error"), "InternalServerError"),
        (error_reply(401, "authentication_error", "invalid x-api-key"), "AuthenticationError"),
        (error_reply(403, "permission_error", "No permission"), "PermissionDeniedError"),
        (error_reply(400, "invalid_request_error", "max_tokens: Field required"), "BadRequestError"),
    ],
)
@pytest.mark.parametrize("stream", [True, False])
def test_http_faults_raise_the_sdks_own_errors(server, client, reply, error, stream):
    server.enqueue(reply)
    with pytest.raises(getattr(anthropic, error)) as info:
        result = client.messages.create(model=MODEL, max_tokens=5, messages=USER, stream=stream)
        if stream:
            list(result)
    assert info.value.status_code == reply.status
    assert info.value.body["error"]["message"] in str(info.value)
    if "retry-after" in reply.headers:
        assert info.value.response.headers["retry-after"] == reply.headers["retry-after"]


@pytest.mark.parametrize("after", [0, 1])
def test_an_error_event_raises_the_sdks_status_error_mid_stream(server, client, after):
    server.enqueue(stream_reply(["Once ", "upon"], error=("overloaded_error", "Overloaded"), error_after=after))
    received = []
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        client.messages.stream(model=MODEL, max_tokens=5, messages=USER) as stream,
    ):
        received.extend(stream.text_stream)
    assert received == ["Once "][:after]
    assert info.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


def test_cut_streams_and_a_slow_first_byte_in_the_sdk(server):
    """A stream cut before ``message_delta`` / ``message_stop`` is well-formed up to the
    cut: the SDK parses it without complaint (its final message has no stop reason, which
    our provider treats as an interruption). A body cut mid-chunk breaks the SDK's HTTP
    read; a slow first byte is the SDK's own timeout."""
    client = anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0, timeout=10)
    server.enqueue(stream_reply(["Once ", "upon"], terminal=False))
    with client.messages.stream(model=MODEL, max_tokens=5, messages=USER) as stream:
        final = stream.get_final_message()
    assert (final.content[0].text, final.stop_reason) == ("Once upon", None)
    server.enqueue(stream_reply(["Once ", "upon"], split=50, close_after=300))
    with (
        pytest.raises(Exception) as info,  # the SDK lets its HTTP library's error through
        client.messages.stream(model=MODEL, max_tokens=5, messages=USER) as stream,
    ):
        stream.get_final_message()
    assert type(info.value).__name__ == "RemoteProtocolError"
    server.enqueue(stream_reply(["late"], delay_before=5))
    impatient = anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0, timeout=0.3)
    with pytest.raises(anthropic.APITimeoutError):
        impatient.messages.create(model=MODEL, max_tokens=5, messages=USER)


def test_the_server_refuses_what_anthropic_refuses_with_the_sdks_bad_request(client):
    with pytest.raises(anthropic.BadRequestError, match="roles must alternate"):
        client.messages.create(model=MODEL, max_tokens=5, messages=[*USER, *USER])
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="claude-nope", max_tokens=5, messages=USER)
