"""The Gemini provider against the loopback Gemini server, over real sockets."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from provider_gemini.protocol import SKIP_SIGNATURE
from provider_gemini.provider import configure
from provider_gemini.server import (
    GeminiServer,
    error_frame,
    error_reply,
    frames_reply,
    function_call_part,
    generate_reply,
    response,
    sse,
    stream_reply,
    text_part,
    thought_part,
    usage_metadata,
)
from provider_gemini.wire_errors import ContentFiltered, MissingKey

from provider_core.errors import (
    EmptyResponse,
    InvalidMessages,
    ModelNotSupported,
    ProviderConnectionError,
    ProviderHTTPError,
    ProviderTimeout,
    StreamInterrupted,
    UpstreamError,
)
from provider_core.events import ToolCall, Usage
from provider_core.testing.server import Reply, refused_url

MODEL = "gemini-3.8-flash"
USER = [{"role": "user", "content": "hi"}]
PIECES = ["Привет", ", ", "мир ", "🌍", "! ", "naïve café 世界"]


# -- text ---------------------------------------------------------------------------------


@pytest.mark.parametrize("split", [1, 2, 3, 7, 64, None])
@pytest.mark.parametrize("line_ending", ["\r\n", "\n", "\r"])
def test_streamed_text_is_exact_however_the_bytes_are_cut(gemini, gemini_server, collect, split, line_ending):
    gemini_server.enqueue(stream_reply(PIECES, usage=usage_metadata(4, 9), split=split, line_ending=line_ending))
    out = collect(gemini.create_completion(MODEL, USER, True))
    assert out.chunks == PIECES
    assert (out.usage, out.finish, out.tool_calls) == (Usage(4, 9), "stop", [])


def test_echo_streamed_and_not(gemini, collect):
    assert collect(gemini.create_completion(MODEL, [{"role": "user", "content": "a b c"}], True)).chunks == [
        "a ",
        "b ",
        "c",
    ]
    out = collect(gemini.create_completion(MODEL, [{"role": "user", "content": "a b c"}], False))
    assert out.items[0] == "a b c" and out.finish == "stop" and out.usage is not None


def test_thought_parts_are_not_text(gemini, gemini_server, collect):
    frames = [response([thought_part("secret plan"), text_part("Answer")], finish_reason="STOP")]
    gemini_server.enqueue(frames_reply(frames), generate_reply(frames[0]))
    assert collect(gemini.create_completion(MODEL, USER, True)).text == "Answer"
    assert collect(gemini.create_completion(MODEL, USER, False)).text == "Answer"


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=1, max_size=60).filter(lambda t: t.strip() == t and "  " not in t and t))
def test_any_text_round_trips_through_the_server(gemini, collect, text):
    messages = [{"role": "system", "content": "echo"}, {"role": "user", "content": text}]
    assert collect(gemini.create_completion(MODEL, messages, False)).text == text
    assert collect(gemini.create_completion(MODEL, messages, True)).text == text


# -- tool calls ---------------------------------------------------------------------------

CALLS = [
    function_call_part("weather", {"city": "Paris"}, signature="c2lnLXBhcmlz"),
    function_call_part("weather", {"city": "Oslo"}, call_id="gemini-id-2"),
]


@pytest.mark.parametrize("stream", [True, False])
def test_function_calls_become_tool_calls(gemini, gemini_server, collect, stream):
    if stream:
        gemini_server.enqueue(stream_reply(["Let me check."], calls=CALLS, usage=usage_metadata(20, 8), split=5))
    else:
        parts = [text_part("Let me check."), *CALLS]
        gemini_server.enqueue(generate_reply(response(parts, finish_reason="STOP", usage=usage_metadata(20, 8))))
    out = collect(gemini.create_completion(MODEL, USER, stream))
    assert out.text == "Let me check."
    first, second = out.tool_calls
    assert first.id.startswith("call_") and (first.name, json.loads(first.arguments)) == ("weather", {"city": "Paris"})
    assert second == ToolCall("gemini-id-2", "weather", '{"city": "Oslo"}')
    assert (out.usage, out.finish) == (Usage(20, 8), "tool_calls")
    if not stream:
        assert [type(i).__name__ for i in out.items] == ["str", "ToolCall", "ToolCall", "Usage", "FinishReason"]


def test_a_thought_signature_comes_back_with_its_call(gemini, gemini_server, collect):
    gemini_server.enqueue(stream_reply([], calls=CALLS))
    first, second = collect(gemini.create_completion(MODEL, USER, True)).tool_calls
    history = [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": [c.to_openai() for c in (first, second)]},
        {"role": "tool", "tool_call_id": first.id, "content": '{"temp": 21}'},
        {"role": "tool", "tool_call_id": second.id, "content": "cold"},
        {"role": "assistant", "content": None, "tool_calls": [{**first.to_openai(), "id": "from-elsewhere"}]},
        {"role": "tool", "tool_call_id": "from-elsewhere", "content": "again"},
    ]
    gemini_server.enqueue(generate_reply(response([text_part("Warm in Paris.")], finish_reason="STOP")))
    collect(gemini.create_completion(MODEL, history, False))
    contents = gemini_server.generations[-1].json["contents"]
    assert contents[1]["parts"][0]["thoughtSignature"] == "c2lnLXBhcmlz"
    assert "thoughtSignature" not in contents[1]["parts"][1]
    assert contents[2]["parts"][1] == {"functionResponse": {"name": "weather", "response": {"content": "cold"}}}
    assert contents[3]["parts"][0]["thoughtSignature"] == SKIP_SIGNATURE


# -- what is sent -------------------------------------------------------------------------


def test_the_request_carries_the_key_header_and_the_body(gemini, gemini_server, collect, key):
    tools = [{"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}]
    messages = [{"role": "system", "content": "Be brief."}, *USER]
    options = {"temperature": 0.5, "max_tokens": 10, "stop": "x", "tools": tools, "tool_choice": "auto", "seed": 1}
    collect(gemini.create_completion(MODEL, messages, True, **options))
    (request,) = gemini_server.generations
    assert request.path == f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    assert key not in request.path
    assert request.headers["x-goog-api-key"] == key
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers
    assert request.json == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 10, "temperature": 0.5, "stopSequences": ["x"], "seed": 1},
        "tools": [
            {"functionDeclarations": [{"name": "now", "parametersJsonSchema": tools[0]["function"]["parameters"]}]}
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
    }
    collect(gemini.create_completion(MODEL, USER, False))
    assert gemini_server.generations[-1].path == f"/v1beta/models/{MODEL}:generateContent"


def test_per_call_key_and_base_url(gemini_server, collect, key):
    from pydantic import SecretStr

    cls = configure({"GEMINI_API_KEY": "env-key-1234"})  # base URL: Google's
    collect(cls.create_completion(MODEL, USER, False, base_url=gemini_server.url + "/v1beta/", api_key=SecretStr(key)))
    assert gemini_server.generations[-1].headers["x-goog-api-key"] == key
    with pytest.raises(MissingKey, match="only sent to"):
        cls.create_completion(MODEL, USER, False, base_url=gemini_server.url)  # the env key stays home
    with pytest.raises(MissingKey, match="GEMINI_API_KEY"):
        configure({}).create_completion(MODEL, USER, True, base_url=gemini_server.url)
    with pytest.raises(InvalidMessages):
        cls.create_completion(MODEL, USER, True, base_url="ftp://x", api_key=key)
    assert len(gemini_server.generations) == 1


def test_an_unknown_model_is_refused_before_sending(gemini, gemini_server):
    with pytest.raises(ModelNotSupported) as info:
        gemini.create_completion("gemini-3.8-flsh", USER, True)
    assert info.value.suggestions[0] == "gemini-3.8-flash"
    with pytest.raises(InvalidMessages):
        gemini.create_completion(MODEL, [{"role": "tool", "tool_call_id": "x", "content": "1"}], True)
    assert gemini_server.requests == []
    assert next(iter(gemini.create_completion("", USER, False))) == "hi"  # empty: the default model


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "status", "fallback", "retry_after", "error_type"),
    [
        (error_reply(400, "Invalid value at 'contents'"), 400, False, None, "INVALID_ARGUMENT"),
        (error_reply(401, "Request had invalid authentication credentials."), 401, True, None, "UNAUTHENTICATED"),
        (error_reply(403, "The caller does not have permission"), 403, True, None, "PERMISSION_DENIED"),
        (error_reply(404, "models/x is not found"), 404, True, None, "NOT_FOUND"),
        (error_reply(429, "Quota", headers={"retry-after": "12"}), 429, True, 12.0, "RESOURCE_EXHAUSTED"),
        (error_reply(500, "An internal error has occurred."), 500, True, None, "INTERNAL"),
        (error_reply(503, "The model is overloaded.", headers={"retry-after": "3"}), 503, True, 3.0, "UNAVAILABLE"),
    ],
)
@pytest.mark.parametrize("stream", [True, False])
def test_http_errors(gemini, gemini_server, reply, status, fallback, retry_after, error_type, stream):
    gemini_server.enqueue(reply)
    with pytest.raises(ProviderHTTPError) as info:
        list(gemini.create_completion(MODEL, USER, stream))
    error = info.value
    assert (error.status_code, error.fallback_ok, error.retry_after, error.error_type) == (
        status,
        fallback,
        retry_after,
        error_type,
    )
    assert f"[{error_type}]" in str(error) and "\n" not in str(error)


def test_a_429_without_retry_after_takes_the_retry_info_delay(gemini, gemini_server):
    info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "41s"}
    gemini_server.enqueue(error_reply(429, "Quota exceeded", details=[info]))
    with pytest.raises(ProviderHTTPError) as caught:
        list(gemini.create_completion(MODEL, USER, True))
    assert (caught.value.retry_after, caught.value.fallback_ok) == (41.0, True)


@pytest.mark.parametrize(("env", "named"), [("GEMINI_API_KEY", "GEMINI_API_KEY"), ("GOOGLE_API_KEY", "GOOGLE_API_KEY")])
def test_a_refused_key_is_an_auth_error_naming_its_variable(collect, env, named):
    with GeminiServer(api_key="the-right-key") as server:
        cls = configure({env: "a-wrong-key-123", "GEMINI_BASE_URL": server.url})
        with pytest.raises(ProviderHTTPError) as info:
            list(cls.create_completion(MODEL, USER, True))
        error = info.value
        assert (error.status_code, error.fallback_ok, error.error_code) == (400, True, "API_KEY_INVALID")
        assert named in str(error) and "\n" not in str(error) and "a-wrong-key-123" not in str(error)
        with pytest.raises(ProviderHTTPError, match="the api_key keyword"):
            list(cls.create_completion(MODEL, USER, False, api_key="another-wrong-1"))
        assert collect(cls.create_completion(MODEL, USER, False, api_key="the-right-key")).text == "hi"


@pytest.mark.parametrize(
    ("frame", "fallback", "error_type"),
    [
        (error_frame(500, "Internal error"), True, "INTERNAL"),
        (error_frame(400, "Bad schema"), False, "INVALID_ARGUMENT"),
    ],
)
def test_an_error_frame_before_any_text_is_an_upstream_error(gemini, gemini_server, frame, fallback, error_type):
    gemini_server.enqueue(frames_reply([response([thought_part("hm")]), frame]))
    with pytest.raises(UpstreamError) as info:
        list(gemini.create_completion(MODEL, USER, True))
    assert (info.value.fallback_ok, info.value.error_type, info.value.provider) == (fallback, error_type, "Gemini")
    gemini_server.enqueue(generate_reply(frame))  # an error object as a 200 body
    with pytest.raises(UpstreamError):
        list(gemini.create_completion(MODEL, USER, False))


def test_an_error_frame_after_text_interrupts_the_stream(gemini, gemini_server):
    gemini_server.enqueue(frames_reply([response([text_part("Hello")]), error_frame(503, "overloaded")]))
    received = []
    with pytest.raises(StreamInterrupted) as info:
        for item in gemini.create_completion(MODEL, USER, True):
            received.append(item)
    assert received == ["Hello"]
    assert (info.value.received_chars, info.value.received_chunks) == (5, 1)
    assert "overloaded" in str(info.value) and info.value.fallback_ok is False


def test_an_error_frame_after_a_tool_call_interrupts_the_stream(gemini, gemini_server):
    gemini_server.enqueue(frames_reply([response([CALLS[1]]), error_frame(500, "boom")]))
    with pytest.raises(StreamInterrupted) as info:
        list(gemini.create_completion(MODEL, USER, True))
    assert info.value.received_chunks == 1


@pytest.mark.parametrize("stream", [True, False])
def test_a_lone_surrogate_escape_becomes_a_replacement_character(gemini, gemini_server, collect, stream):
    raw = '{"candidates": [{"content": {"role": "model", "parts": [{"text": "a\\ud800b"}]}, "finishReason": "STOP"}]}'
    gemini_server.enqueue(frames_reply([raw]) if stream else Reply(200, body=raw, framing="length"))
    assert collect(gemini.create_completion(MODEL, USER, stream)).text == "a\ufffdb"


def test_a_function_call_without_a_name_is_an_upstream_error(gemini, gemini_server):
    gemini_server.enqueue(frames_reply([response([{"functionCall": {"args": {}}}], finish_reason="STOP")]))
    with pytest.raises(UpstreamError, match="without a function name"):
        list(gemini.create_completion(MODEL, USER, True))


def test_a_stream_without_a_finish_reason(gemini, gemini_server):
    gemini_server.enqueue(stream_reply(["Hel", "lo"], finish_reason=None))
    with pytest.raises(StreamInterrupted) as info:
        list(gemini.create_completion(MODEL, USER, True))
    assert info.value.received_chars == 5 and "finishReason" in str(info.value)
    gemini_server.enqueue(frames_reply([response([thought_part("...")])]))
    with pytest.raises(ProviderConnectionError):
        list(gemini.create_completion(MODEL, USER, True))


def test_a_reset_mid_stream(gemini, gemini_server):
    first = sse(response([text_part("Hello")])).encode()
    body = [response([text_part("Hello")]), response([text_part(" world")], finish_reason="STOP")]
    gemini_server.enqueue(frames_reply(body, reset_after=len(first) + 4))
    received = []
    with pytest.raises(StreamInterrupted) as info:
        for item in gemini.create_completion(MODEL, USER, True):
            received.append(item)
    assert received == ["Hello"] and info.value.received_chars == 5
    gemini_server.enqueue(frames_reply(body, reset_after=4))
    with pytest.raises(ProviderConnectionError):
        list(gemini.create_completion(MODEL, USER, True))


def test_network_faults_before_the_first_byte(gemini, gemini_server):
    gemini_server.enqueue(stream_reply(["late"], delay_before=30))
    with pytest.raises(ProviderTimeout):
        list(gemini.create_completion(MODEL, USER, True, timeout=(5, 0.2)))
    with pytest.raises(ProviderConnectionError) as info:
        list(gemini.create_completion(MODEL, USER, True, base_url=refused_url(), api_key="k-1234"))
    assert info.value.kind == "refused"


@pytest.mark.parametrize("stream", [True, False])
def test_empty_and_blocked_replies(gemini, gemini_server, stream):
    blocked = response(block_reason="SAFETY", usage=usage_metadata(3, 0))
    empty = response([], finish_reason="STOP")
    for payload, kind in ((blocked, ContentFiltered), (empty, EmptyResponse)):
        gemini_server.enqueue(frames_reply([payload]) if stream else generate_reply(payload))
        with pytest.raises(kind) as info:
            list(gemini.create_completion(MODEL, USER, stream))
        assert info.value.fallback_ok is True


def test_text_then_a_safety_stop_is_a_content_filter_finish(gemini, gemini_server, collect):
    gemini_server.enqueue(stream_reply(["Once upon"], finish_reason="SAFETY"))
    out = collect(gemini.create_completion(MODEL, USER, True))
    assert (out.text, out.finish) == ("Once upon", "content_filter")


def test_the_key_is_in_no_exception_text(gemini, gemini_server, key):
    echoes = [
        error_reply(401, f"API key {key} is not allowed"),
        frames_reply([error_frame(500, f"internal error for key={key}")]),
        frames_reply([response([text_part("x")]), error_frame(500, f"internal error for key={key}")]),
        generate_reply(error_frame(403, f"denied: {key}")),
    ]
    for reply, stream in zip(echoes, (True, True, True, False), strict=True):
        gemini_server.enqueue(reply)
        with pytest.raises(Exception) as info:
            list(gemini.create_completion(MODEL, USER, stream))
        text = f"{info.value} {info.value!r} {vars(info.value)}"
        assert key not in text, text
        assert "[redacted]" in text


def test_closing_the_iterator_early_closes_the_connection(gemini, gemini_server):
    frames = [response([text_part(f"piece {i} ")]) for i in range(400)]
    gemini_server.enqueue(frames_reply(frames, split=64, delay_between=0.01))
    completion = gemini.create_completion(MODEL, USER, True)
    assert next(completion) == "piece 0 "
    completion.close()
    (request,) = gemini_server.generations
    assert request.done.wait(10)
    assert request.outcome == "client-gone"
