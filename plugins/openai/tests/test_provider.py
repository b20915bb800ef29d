"""Chat completions against a loopback OpenAI-protocol server, over real sockets."""

from __future__ import annotations

import json
import warnings

import pytest
from provider_openai.config import EndpointConfig
from provider_openai.models import ModelList
from provider_openai.protocol import UpstreamError
from provider_openai.provider import make_provider
from provider_openai.server import OpenAIServer, chat_chunk, completion_reply, error_reply, sse, stream_reply
from pydantic import SecretStr

from provider_core import FinishReason, create_completion
from provider_core.errors import (
    FallbackWarning,
    InvalidMessages,
    ModelNotSupported,
    NoProviderAvailable,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    StreamInterrupted,
)
from provider_core.registry import Registry
from provider_core.testing.server import Reply

USER = [{"role": "user", "content": "hi"}]
PIECES = ["Привет", ", ", "мир ", "🌍", "! ", "naïve café"]


def text_of(items) -> str:
    """The text of a provider's reply (its events left out)."""
    return "".join(item for item in items if isinstance(item, str))


def make(url: str, name: str = "ep", models=("demo", "gpt-4o-mini"), **settings):
    endpoint = EndpointConfig(name=name, base_url=url, source="test", **settings)
    return make_provider(endpoint, ModelList({m: m for m in models}, "config"))


def registry_with(*providers) -> Registry:
    """An isolated registry with the core's circuit breaker (which honours Retry-After)."""
    registry = Registry(load_entry_points=False, builtins=True, environ={})
    for cls in providers:
        registry.register(cls)
    return registry


# -- streaming ------------------------------------------------------------------------


@pytest.mark.parametrize("split", [1, 2, 3, 5, 64, None])
@pytest.mark.parametrize("line_ending", ["\n", "\r\n", "\r"])
def test_streamed_text_arrives_exactly_however_the_bytes_are_cut(openai_server, split, line_ending):
    openai_server.enqueue(stream_reply(PIECES, line_ending=line_ending, split=split))
    items = list(make(openai_server.url).create_completion("demo", USER, True))
    assert items == [*PIECES, FinishReason("stop")]


def test_keepalive_comments_usage_chunks_and_multiline_events_are_handled(openai_server):
    pretty = json.dumps(chat_chunk("two"), indent=1)  # one JSON value over several data: lines
    body = (
        ": keep-alive\n\n"
        + sse(chat_chunk("one "))
        + "".join(f"data: {line}\n" for line in pretty.split("\n"))
        + "\n"
        + sse({"choices": [], "usage": {"total_tokens": 3}}, "[DONE]")
    )
    openai_server.enqueue(Reply(200, body=body, headers={"content-type": "text/event-stream"}))
    assert list(make(openai_server.url).create_completion("demo", USER, True)) == [
        "one ",
        "two",
    ]  # no whole counts: no Usage


def test_the_request_carries_model_messages_options_key_and_headers():
    with OpenAIServer(models=["demo"], api_key="sk-test-123") as server:
        cls = make(
            server.url,
            models=("demo",),
            api_key_env="K",
            api_key=SecretStr("sk-test-123"),
            headers={"X-Title": "tests"},
        )
        text = text_of(
            cls.create_completion(
                "demo",
                USER,
                True,
                system_message="be brief",
                temperature=0.5,
                max_tokens=7,
                stop=["\n\n"],
                logprobs=True,
                timeout=(5, 30),
                extra_headers={"X-Trace": "abc"},
            )
        )
        assert text == "hi"
        (request,) = server.chats
    assert request.json == {
        "model": "demo",
        "messages": [{"role": "system", "content": "be brief"}, *USER],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.5,
        "max_tokens": 7,
        "stop": ["\n\n"],
        "logprobs": True,
    }
    assert request.headers["authorization"] == "Bearer sk-test-123"
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["content-type"] == "application/json"
    assert (request.headers["x-title"], request.headers["x-trace"]) == ("tests", "abc")


def test_non_streaming_uses_the_json_reply(openai_server):
    openai_server.enqueue(completion_reply("The whole answer."))
    assert list(make(openai_server.url).create_completion("demo", USER, False)) == [
        "The whole answer.",
        FinishReason("stop"),
    ]
    (request,) = openai_server.chats
    assert request.json["stream"] is False and request.headers["accept"] == "application/json"


def test_a_pooled_connection_is_reused_after_done(openai_server):
    cls = make(openai_server.url)
    for _ in range(3):
        openai_server.enqueue(stream_reply(["a", "b"]))
        assert text_of(cls.create_completion("demo", USER, True)) == "ab"
    assert len({r.connection for r in openai_server.chats}) == 1


def test_a_stream_with_finish_reason_but_no_done_is_complete(openai_server):
    openai_server.enqueue(stream_reply(["all ", "here"], done=False))
    assert text_of(make(openai_server.url).create_completion("demo", USER, True)) == "all here"


# -- models -----------------------------------------------------------------------------


def test_unknown_model_is_refused_with_suggestions_and_empty_means_default(openai_server):
    cls = make(openai_server.url, default_model="demo")
    with pytest.raises(ModelNotSupported) as info:
        list(cls.create_completion("gpt-4o-mni", USER, True))
    assert info.value.suggestions == ["gpt-4o-mini"]
    assert openai_server.chats == []
    assert text_of(cls.create_completion("", USER, True)) == "hi"
    assert openai_server.chats[0].json["model"] == "demo"


def test_flags_are_derived_from_the_models(openai_server):
    cls = make(openai_server.url, models=("gpt-4o-mini", "gpt-3.5-turbo"), priority=3)
    assert (cls.supports_gpt_4, cls.supports_gpt_35_turbo, cls.supports_stream, cls.working) == (True, True, True, True)
    assert (cls.priority, cls.needs_auth, cls.url, cls.status_reason) == (3, False, openai_server.url, None)
    plain = make(openai_server.url, models=("llama3.2",), api_key_env="X", working=False)
    assert (plain.supports_gpt_4, plain.supports_gpt_35_turbo, plain.needs_auth, plain.working) == (
        False,
        False,
        True,
        False,
    )
    assert plain.status_reason == "working = false in test"


# -- HTTP errors --------------------------------------------------------------------------


def test_an_openai_error_body_becomes_a_typed_http_error(openai_server):
    openai_server.enqueue(
        error_reply(400, "Invalid value for 'temperature'.", "invalid_request_error", "invalid_value")
    )
    with pytest.raises(ProviderHTTPError) as info:
        list(make(openai_server.url).create_completion("demo", USER, True))
    exc = info.value
    assert (exc.status_code, exc.error_type, exc.error_code) == (400, "invalid_request_error", "invalid_value")
    assert exc.body_excerpt == "Invalid value for 'temperature'."
    assert exc.fallback_ok is False and exc.provider == "ep"
    assert "[invalid_request_error] Invalid value for 'temperature'." in str(exc)


def test_an_error_body_that_is_not_json_is_kept_as_an_excerpt(openai_server):
    openai_server.enqueue(Reply(502, body="<html><body>Bad gateway</body></html>", framing="length"))
    with pytest.raises(ProviderHTTPError) as info:
        list(make(openai_server.url).create_completion("demo", USER, False))
    assert info.value.error_type is None
    assert info.value.body_excerpt == "<html><body>Bad gateway</body></html>"


def test_the_key_never_appears_in_errors():
    with OpenAIServer(api_key="sk-right") as server:
        cls = make(server.url, api_key_env="K", api_key=SecretStr("sk-WRONG-secret"))
        with pytest.raises(ProviderHTTPError) as info:
            list(cls.create_completion("demo", USER, True))
    assert info.value.status_code == 401
    for text in (str(info.value), repr(info.value), repr(cls.endpoint), json.dumps(cls.describe())):
        assert "sk-WRONG-secret" not in text


def test_429_with_retry_after_is_a_typed_error_the_breaker_honours(openai_server):
    cls = make(openai_server.url)
    openai_server.enqueue(
        error_reply(429, "Rate limit reached.", "requests", "rate_limit_exceeded", headers={"Retry-After": "20"})
    )
    registry = registry_with(cls)
    with pytest.raises(ProviderHTTPError) as info:
        list(create_completion("demo", USER, registry=registry))
    assert (info.value.status_code, info.value.retry_after, info.value.fallback_ok) == (429, 20.0, True)
    with pytest.raises(NoProviderAvailable, match="circuit for demo open until") as skipped:
        create_completion("demo", USER, registry=registry)  # not sent: the upstream said when
    assert "HTTP 429" in str(skipped.value)
    assert len(openai_server.chats) == 1


def test_routing_falls_back_past_a_rate_limited_endpoint_and_then_skips_it(openai_server):
    with OpenAIServer(models=["demo"]) as backup:
        first = make(openai_server.url, name="first", priority=10)
        second = make(backup.url, name="second", models=("demo",))
        registry = registry_with(first, second)
        openai_server.enqueue(error_reply(429, "Slow down.", "requests", headers={"Retry-After": "30"}))
        with pytest.warns(FallbackWarning, match="HTTP 429"):
            assert "".join(create_completion("demo", USER, registry=registry)) == "hi"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            completion = create_completion("demo", USER, registry=registry)
            assert "".join(completion) == "hi"
        assert completion.provider == "second"
        assert [a.provider for a in completion.skipped] == ["first"]
        assert "circuit for demo open until" in completion.skipped[0].reason
        assert len(openai_server.chats) == 1 and len(backup.chats) == 2
        assert not any(issubclass(w.category, FallbackWarning) for w in caught)  # skipped, not tried


# -- errors inside a 200 reply ------------------------------------------------------------


def test_an_error_event_mid_stream_interrupts_with_the_upstream_message(openai_server):
    body = sse(chat_chunk("Hello"), {"error": {"message": "The server is overloaded.", "type": "server_error"}})
    openai_server.enqueue(Reply(200, body=body, headers={"content-type": "text/event-stream"}))
    received = []
    with pytest.raises(StreamInterrupted) as info:
        for chunk in make(openai_server.url).create_completion("demo", USER, True):
            received.append(chunk)
    assert received == ["Hello"]
    assert info.value.received_chars == 5
    assert "[server_error] The server is overloaded." in str(info.value)


def test_an_event_error_mid_stream_through_routing(openai_server):
    body = sse(chat_chunk("Partial "), chat_chunk("text"), ("error", "upstream exploded"))
    openai_server.enqueue(Reply(200, body=body, headers={"content-type": "text/event-stream"}, delay_between=0.01))
    completion = create_completion("demo", USER, registry=registry_with(make(openai_server.url)))
    received = []
    with pytest.raises(StreamInterrupted) as info:
        for chunk in completion:
            received.append(chunk)
    assert "".join(received) == "Partial text"
    assert info.value.received_chars == len("Partial text")
    assert "upstream exploded" in str(info.value)


def test_an_error_before_any_text_lets_routing_fall_back(openai_server):
    with OpenAIServer(models=["demo"]) as backup:
        first = make(openai_server.url, name="first", priority=10)
        registry = registry_with(first, make(backup.url, name="second"))
        body = sse({"error": {"message": "model is loading", "type": "unavailable"}})
        openai_server.enqueue(Reply(200, body=body, headers={"content-type": "text/event-stream"}))
        with pytest.warns(FallbackWarning, match="model is loading"):
            assert "".join(create_completion("demo", USER, registry=registry)) == "hi"


def test_an_error_in_a_200_json_reply(openai_server):
    openai_server.enqueue(Reply(200, body=json.dumps({"error": {"message": "nope", "type": "x"}}), framing="length"))
    with pytest.raises(UpstreamError) as info:
        list(make(openai_server.url).create_completion("demo", USER, False))
    assert (info.value.error_type, str(info.value)) == ("x", "ep: [x] nope")


def test_a_reply_without_choices_is_an_error(openai_server):
    openai_server.enqueue(Reply(200, body='{"id": "x"}', framing="length"))
    with pytest.raises(ProviderError, match=r"unexpected reply .* no choices"):
        list(make(openai_server.url).create_completion("demo", USER, False))


def test_a_stream_event_that_is_not_json(openai_server):
    openai_server.enqueue(Reply(200, body="data: {oops\n\n", headers={"content-type": "text/event-stream"}))
    with pytest.raises(UpstreamError, match="not JSON"):
        list(make(openai_server.url).create_completion("demo", USER, True))


# -- truncated streams ------------------------------------------------------------------


def test_a_stream_cut_before_done_and_finish_reason_is_interrupted(openai_server):
    openai_server.enqueue(stream_reply(["Once upon ", "a time"], done=False, finish_reason=None))
    received = []
    with pytest.raises(StreamInterrupted, match="without \\[DONE\\] or a finish_reason after 16 characters"):
        for chunk in make(openai_server.url).create_completion("demo", USER, True):
            received.append(chunk)
    assert "".join(received) == "Once upon a time"


def test_a_stream_cut_in_the_middle_of_an_event(openai_server):
    body = sse(chat_chunk("abc")) + 'data: {"choices": [{"index": 0, "delta": {"content": "d'
    openai_server.enqueue(Reply(200, body=body, headers={"content-type": "text/event-stream"}))
    with pytest.raises(StreamInterrupted, match="in the middle of an event after 3 characters"):
        list(make(openai_server.url).create_completion("demo", USER, True))


def test_an_empty_stream_is_an_error_routing_can_fall_back_from(openai_server):
    openai_server.enqueue(Reply(200, body=": nothing\n\n", headers={"content-type": "text/event-stream"}))
    with pytest.raises(ProviderError, match="before any text") as info:
        list(make(openai_server.url).create_completion("demo", USER, True))
    assert info.value.fallback_ok


def test_a_reset_after_some_text_is_interrupted(openai_server):
    reply = stream_reply(["abc", "def"])
    cut = len(b"".join(reply.chunks()[:1])) - 20
    reply.reset_after = cut
    openai_server.enqueue(reply)
    with pytest.raises(StreamInterrupted):
        list(make(openai_server.url).create_completion("demo", USER, True))


def test_a_reset_before_any_text_is_a_connection_error(openai_server):
    role_only = sse({**chat_chunk(), "choices": [{"index": 0, "delta": {"role": "assistant"}}]})
    openai_server.enqueue(
        Reply(
            200,
            body=[role_only, sse(chat_chunk("x"))],
            headers={"content-type": "text/event-stream"},
            reset_after=len(role_only.encode()),
        )
    )
    with pytest.raises(ProviderConnectionError) as info:
        list(make(openai_server.url).create_completion("demo", USER, True))
    assert info.value.fallback_ok


def test_a_base_url_given_per_call_never_receives_the_key(openai_server):
    with OpenAIServer(models=["demo"]) as configured:
        cls = make(configured.url, api_key_env="K", api_key=SecretStr("sk-only-for-configured"))
        assert text_of(cls.create_completion("demo", USER, True, base_url=openai_server.url)) == "hi"
        assert text_of(cls.create_completion("demo", USER, True)) == "hi"
        assert configured.chats[0].headers["authorization"] == "Bearer sk-only-for-configured"
    assert "authorization" not in openai_server.chats[0].headers
    with pytest.raises(InvalidMessages):
        list(cls.create_completion("demo", USER, True, base_url="file:///etc/passwd"))


@pytest.mark.parametrize("base_url", ["ftp://bob:hunter2-secret@files.example/v1", b"https://bob:hunter2-secret@h/"])
def test_a_refused_per_call_base_url_is_not_quoted_with_its_password(base_url):
    cls = make("http://127.0.0.1:9/v1")
    with pytest.raises(InvalidMessages) as info:
        list(cls.create_completion("demo", USER, True, base_url=base_url))
    assert "base_url" in str(info.value)
    assert "hunter2" not in str(info.value) and "hunter2" not in repr(info.value.args)


def test_invalid_messages_are_refused_before_sending_even_when_called_directly(openai_server):
    with pytest.raises(InvalidMessages):
        list(make(openai_server.url).create_completion("demo", [{"role": "robot", "content": "x"}], True))
    assert openai_server.requests == []


def test_a_key_echoed_back_in_an_error_body_is_not_repeated(openai_server):
    cls = make(openai_server.url, api_key_env="K", api_key=SecretStr("sk-echoed-secret-0042"))
    openai_server.enqueue(
        error_reply(401, "Incorrect API key provided: sk-echoed-secret-0042.", code="invalid_api_key")
    )
    with pytest.raises(ProviderHTTPError) as info:
        list(cls.create_completion("demo", USER, True))
    assert info.value.error_code == "invalid_api_key"
    assert "sk-echoed-secret-0042" not in str(info.value) + info.value.body_excerpt
