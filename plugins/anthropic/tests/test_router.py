"""The provider through provider-core's router (``provider_core.create_completion``), against
the loopback Anthropic server: a whole tool loop streamed and not, with the upstream's
``toolu_...`` ids unchanged, usage and finish reasons on the completion; and the fallback
rules: a fault before the first text hands over to the next provider, after it is
``StreamInterrupted``."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from provider_anthropic import configured
from provider_anthropic.server import (
    AnthropicServer,
    error_body,
    error_reply,
    message_reply,
    stream_events,
    stream_reply,
)

from provider_core import create_completion
from provider_core.errors import (
    FallbackWarning,
    NoProviderAvailable,
    ProviderHTTPError,
    StreamInterrupted,
    UpstreamError,
)
from provider_core.events import FinishReason, ToolCall, ToolCallDelta, Usage
from provider_core.provider import AbstractProvider
from provider_core.registry import Registry
from provider_core.testing.server import Reply

KEY = "sk-ant-router-0123456789"
MODEL = "claude-haiku-5-5"
QUESTION = [{"role": "user", "content": "Weather in Paris?"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    },
}


class Backup(AbstractProvider):
    """A second provider of the same model, in process, below Anthropic in routing order."""

    url = "http://127.0.0.1/in-process"
    working = True
    supports_stream = True
    priority = -1
    models: ClassVar = {MODEL: "Backup of Claude Haiku"}
    calls: ClassVar[int] = 0

    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[Any]:
        Backup.calls += 1
        yield "backup "
        yield "answer"
        yield FinishReason("stop")


@pytest.fixture
def registry(server: AnthropicServer) -> Registry:
    """A registry holding the Anthropic provider configured to talk to ``server``."""
    built = Registry(load_entry_points=False)
    built.register(configured({"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": server.url}))
    return built


@pytest.fixture
def with_backup(registry: Registry) -> Registry:
    Backup.calls = 0
    registry.register(Backup)
    return registry


def _ask(registry: Registry, messages: list[dict[str, Any]], stream: bool) -> tuple[str, Any]:
    """(text, the completion or ChatResult) of one routed request with the weather tool."""
    result = create_completion(MODEL, messages, stream=stream, registry=registry, tools=[WEATHER])
    return ("".join(result) if stream else str(result)), result


# -- a whole tool loop ---------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
def test_a_whole_tool_loop_through_the_router(server, registry, stream):
    text, first = _ask(registry, QUESTION, stream)
    (call,) = first.tool_calls
    assert text == "" and first.provider == "Anthropic" and first.finish_reason == "tool_calls"
    assert call.id == f"toolu_loopback_{len(server.messages_requests):04d}" and call.name == "weather"
    assert json.loads(call.arguments) == {"query": "Weather in Paris?"}
    assert first.usage is not None and first.usage.completion_tokens == 12 and first.usage.prompt_tokens > 0
    assert server.messages_requests[-1].json["stream"] is stream

    history = [
        *QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [call.to_openai()]},
        {"role": "tool", "tool_call_id": call.id, "content": "18C, sunny"},
    ]
    text, final = _ask(registry, history, stream)
    assert text == "The tool said: 18C, sunny"
    assert (final.finish_reason, final.tool_calls) == ("stop", [])
    assert final.usage == Usage(final.usage.prompt_tokens, 5) and final.usage.total_tokens > 5

    sent = server.messages_requests[-1].json
    assert sent["tools"] == [{"name": "weather", **_schema(WEATHER)}]
    assert sent["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": call.id, "name": "weather", "input": {"query": "Weather in Paris?"}}
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18C, sunny"}]},
    ]


def _schema(tool: dict[str, Any]) -> dict[str, Any]:
    function = tool["function"]
    return {"description": function["description"], "input_schema": function["parameters"]}


def test_streamed_calls_keep_the_upstreams_ids_and_argument_bytes(server, registry):
    arguments = '{ "query" :"Paris",  "units":"C" }'  # spacing a re-serialization would change
    script = [("toolu_01A09q90qw90lq917835lq9", "weather", [arguments[:7], arguments[7:20], arguments[20:]])]
    script.append(("toolu_01B", "weather", []))
    server.enqueue(stream_reply(["Let me look. "], script, split=9, usage=(40, 17)))
    completion = create_completion(MODEL, QUESTION, registry=registry, tools=[WEATHER])
    items = list(completion.events())
    assert items[0] == "Let me look. "
    assert items[1] == ToolCallDelta(0, id="toolu_01A09q90qw90lq917835lq9", name="weather")
    assert items[-2:] == [Usage(40, 17), FinishReason("tool_calls")]
    assert completion.tool_calls == [
        ToolCall("toolu_01A09q90qw90lq917835lq9", "weather", arguments),
        ToolCall("toolu_01B", "weather", "{}"),
    ]
    assert (completion.usage, completion.finish_reason) == (Usage(40, 17, 57), "tool_calls")


def test_a_whole_reply_carries_the_calls_usage_and_finish(server, registry):
    server.enqueue(message_reply("On it.", [("toolu_01C", "weather", ['{"query": "Oslo"}'])], usage=(21, 9)))
    result = create_completion(MODEL, QUESTION, stream=False, registry=registry, tools=[WEATHER])
    assert result == "On it." and result.provider == "Anthropic"
    assert result.tool_calls == [ToolCall("toolu_01C", "weather", '{"query": "Oslo"}')]
    assert (result.usage, result.finish_reason) == (Usage(21, 9), "tool_calls")


@pytest.mark.parametrize(("stop", "finish"), [("max_tokens", "length"), ("refusal", "content_filter")])
def test_finish_reasons_reach_the_completion(server, registry, stop, finish):
    server.enqueue(stream_reply(["cut"], stop_reason=stop), message_reply("cut", stop_reason=stop))
    streamed = create_completion(MODEL, QUESTION, registry=registry)
    assert list(streamed) == ["cut"] and streamed.finish_reason == finish
    assert create_completion(MODEL, QUESTION, stream=False, registry=registry).finish_reason == finish


# -- fallback -------------------------------------------------------------------------------------

FAULTS_BEFORE_TEXT = {
    "an error event": stream_reply(["never"], error=("overloaded_error", "Overloaded"), error_after=0),
    "HTTP 529": error_reply(529, "overloaded_error", "Overloaded", retry_after=30),
    "a stream cut before any text": stream_reply(events=stream_events(["never"])[:3]),
}


@pytest.mark.parametrize("fault", list(FAULTS_BEFORE_TEXT))
def test_a_fault_before_the_first_text_falls_back_to_the_next_provider(server, with_backup, fault):
    server.enqueue(FAULTS_BEFORE_TEXT[fault])
    with pytest.warns(FallbackWarning, match="fell back to Backup after: Anthropic"):
        completion = create_completion(MODEL, QUESTION, registry=with_backup)
        assert "".join(completion) == "backup answer"
    assert completion.provider == "Backup" and Backup.calls == 1
    (attempt,) = completion.attempts
    assert attempt.provider == "Anthropic" and attempt.error is not None and attempt.error.fallback_ok


def test_an_error_body_in_a_200_reply_falls_back_with_stream_false(server, with_backup):
    body = json.dumps(error_body("api_error", "Internal error"))
    server.enqueue(Reply(200, body=body, headers={"content-type": "application/json"}, framing="length"))
    with pytest.warns(FallbackWarning, match="UpstreamError"):
        result = create_completion(MODEL, QUESTION, stream=False, registry=with_backup)
    assert result == "backup answer" and result.provider == "Backup" and Backup.calls == 1
    assert server.messages_requests[0].json["stream"] is False


def test_an_invalid_request_error_event_does_not_fall_back(server, with_backup):
    server.enqueue(stream_reply(["x"], error=("invalid_request_error", "prompt is too long"), error_after=0))
    with pytest.raises(UpstreamError, match="prompt is too long") as info:
        list(create_completion(MODEL, QUESTION, registry=with_backup))
    assert info.value.fallback_ok is False and Backup.calls == 0


def test_an_error_event_after_the_first_text_is_stream_interrupted_without_fallback(server, with_backup):
    server.enqueue(stream_reply(["Once ", "upon ", "a time"], error=("overloaded_error", "Overloaded"), error_after=2))
    received = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", FallbackWarning)
        completion = create_completion(MODEL, QUESTION, registry=with_backup)
        with pytest.raises(StreamInterrupted, match="Overloaded") as info:
            for chunk in completion:
                received.append(chunk)
    assert received == ["Once ", "upon "] and info.value.received_chars == 10
    assert completion.provider == "Anthropic" and Backup.calls == 0


def test_with_no_other_candidate_the_providers_own_error_is_raised(server, registry):
    server.enqueue(error_reply(529, "overloaded_error", "Overloaded", retry_after=30))
    with pytest.raises(ProviderHTTPError) as info:
        list(create_completion(MODEL, QUESTION, registry=registry))
    assert not isinstance(info.value, NoProviderAvailable)
    assert (info.value.status_code, info.value.retry_after, info.value.error_type) == (529, 30.0, "overloaded_error")
