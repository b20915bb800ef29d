"""Contract v2 end to end through the library's front door: ``provider_core.create_completion``
routes to the Gemini provider, which talks to the loopback Gemini server. A full tool loop
(the call, the function's result, the final answer), streamed and not, with the ids this
plugin makes mapped back to function names; usage and finish reasons on the completion;
an error frame before the first text falls back to the next candidate, after it the
stream is interrupted."""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

import pytest
from provider_gemini.provider import configure
from provider_gemini.server import (
    error_frame,
    frames_reply,
    function_call_part,
    generate_reply,
    response,
    stream_reply,
    text_part,
    usage_metadata,
)

from provider_core import create_completion
from provider_core.errors import FallbackWarning, StreamInterrupted, UpstreamError
from provider_core.events import FinishReason, ToolCall, Usage
from provider_core.provider import AbstractProvider
from provider_core.registry import Registry

MODEL = "gemini-3.8-flash"
QUESTION = [{"role": "user", "content": "Weather in Paris?"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CLOCK = {"type": "function", "function": {"name": "clock", "parameters": {"type": "object"}}}
CALL_ID = re.compile(r"call_[0-9a-f]{24}")


class Backup(AbstractProvider):
    """An in-process provider for the same model, tried after Gemini."""

    url = "http://127.0.0.1/in-process"
    working = True
    supports_stream = True
    priority = -1
    models: ClassVar = {MODEL: "Backup"}

    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Any:
        yield "from the backup"
        yield Usage(1, 3)
        yield FinishReason("stop")


@pytest.fixture
def registry(gemini_server, key) -> Registry:
    registry = Registry(load_entry_points=False)
    registry.register(configure({"GEMINI_API_KEY": key, "GEMINI_BASE_URL": gemini_server.url}))
    registry.register(Backup)
    return registry


def _run(registry: Registry, messages: list[dict[str, Any]], stream: bool, **options: Any) -> Any:
    """``(text, tool calls, usage, finish reason, provider)`` of one routed completion."""
    result = create_completion(MODEL, messages, stream=stream, registry=registry, **options)
    text = "".join(result) if stream else str(result)
    return text, result.tool_calls, result.usage, result.finish_reason, result.provider


@pytest.mark.parametrize("stream", [True, False])
def test_a_whole_tool_loop(registry, gemini_server, stream):
    text, calls, usage, finish, provider = _run(registry, QUESTION, stream, tools=[WEATHER])
    assert (text, finish, provider) == ("", "tool_calls", "Gemini")
    (call,) = calls
    assert CALL_ID.fullmatch(call.id) and call.name == "weather"  # Gemini sent no id: the plugin made one
    assert json.loads(call.arguments) == {"query": "Weather in Paris?"}
    assert isinstance(usage, Usage) and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 0
    assert gemini_server.generations[-1].json["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris?"}]}
    ]

    history = [
        *QUESTION,
        {"role": "assistant", "content": None, "tool_calls": [call.to_openai()]},
        {"role": "tool", "tool_call_id": call.id, "content": "18C, sunny"},
    ]
    text, calls, usage, finish, provider = _run(registry, history, stream, tools=[WEATHER])
    assert (text, calls, finish, provider) == ("The tool said: 18C, sunny", [], "stop", "Gemini")
    assert usage is not None and usage.completion_tokens > 0

    sent = gemini_server.generations[-1].json
    function = WEATHER["function"]
    declaration = {
        "name": "weather",
        "description": function["description"],
        "parametersJsonSchema": function["parameters"],
    }
    assert sent["tools"] == [{"functionDeclarations": [declaration]}]
    model_turn, result_turn = sent["contents"][1:]
    (part,) = model_turn["parts"]
    assert part["functionCall"] == {"name": "weather", "args": {"query": "Weather in Paris?"}}  # no made-up id sent
    assert part["thoughtSignature"] != "skip_thought_signature_validator"  # the one Gemini sent, remembered
    assert result_turn == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "weather", "response": {"content": "18C, sunny"}}}],
    }


def test_parallel_calls_get_their_own_ids_and_results_go_back_under_their_function_names(registry, gemini_server):
    parts = [function_call_part("clock", {"zone": "CET"}), function_call_part("weather", {"city": "Oslo"})]
    gemini_server.enqueue(stream_reply(["Two lookups. "], calls=parts, usage=usage_metadata(20, 8), split=9))
    text, calls, usage, finish, _ = _run(registry, QUESTION, True, tools=[WEATHER, CLOCK])
    assert (text, usage, finish) == ("Two lookups. ", Usage(20, 8), "tool_calls")
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("clock", {"zone": "CET"}),
        ("weather", {"city": "Oslo"}),
    ]
    assert len({c.id for c in calls}) == 2 and all(CALL_ID.fullmatch(c.id) for c in calls)
    clock, weather = calls
    history = [
        *QUESTION,
        {"role": "assistant", "content": "Two lookups. ", "tool_calls": [c.to_openai() for c in calls]},
        {"role": "tool", "tool_call_id": weather.id, "content": '{"temp_c": 4}'},  # answered out of order
        {"role": "tool", "tool_call_id": clock.id, "content": "12:00"},
    ]
    assert _run(registry, history, False, tools=[WEATHER, CLOCK])[0] == "The tool said: 12:00"
    results = gemini_server.generations[-1].json["contents"][-1]["parts"]
    assert results == [
        {"functionResponse": {"name": "weather", "response": {"temp_c": 4}}},
        {"functionResponse": {"name": "clock", "response": {"content": "12:00"}}},
    ]


def test_a_call_id_sent_by_gemini_is_kept(registry, gemini_server):
    part = function_call_part("weather", {"city": "Rome"}, call_id="gemini-call-7")
    gemini_server.enqueue(generate_reply(response([part], finish_reason="STOP")))
    _, calls, usage, finish, _ = _run(registry, QUESTION, False, tools=[WEATHER])
    assert calls == [ToolCall("gemini-call-7", "weather", '{"city": "Rome"}')]
    assert (usage, finish) == (None, "tool_calls")  # no usageMetadata: no Usage


@pytest.mark.parametrize(
    ("gemini_reason", "ours"), [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter")]
)
@pytest.mark.parametrize("stream", [True, False])
def test_finish_reasons_and_usage_on_the_completion(registry, gemini_server, gemini_reason, ours, stream):
    usage = usage_metadata(11, 5, thoughts=7)
    if stream:
        gemini_server.enqueue(stream_reply(["Hel", "lo"], finish_reason=gemini_reason, usage=usage, split=4))
    else:
        gemini_server.enqueue(generate_reply(response([text_part("Hello")], finish_reason=gemini_reason, usage=usage)))
    text, calls, got, finish, provider = _run(registry, QUESTION, stream, max_tokens=5)
    assert (text, calls, finish, provider) == ("Hello", [], ours, "Gemini")
    assert got == Usage(11, 12, 23)  # thinking tokens are billed as output
    assert gemini_server.generations[-1].json["generationConfig"] == {"maxOutputTokens": 5}


@pytest.mark.parametrize("stream", [True, False])
def test_an_error_frame_before_the_first_text_falls_back_to_the_next_candidate(registry, gemini_server, stream):
    overloaded = error_frame(503, "The model is overloaded. Please try again later.")
    gemini_server.enqueue(frames_reply([overloaded]) if stream else generate_reply(overloaded))
    with pytest.warns(FallbackWarning, match="fell back to Backup after: Gemini"):
        completion = create_completion(MODEL, QUESTION, stream=stream, registry=registry)
        text = "".join(completion) if stream else str(completion)
    assert (text, completion.provider, completion.finish_reason) == ("from the backup", "Backup", "stop")
    if stream:
        (attempt,) = completion.attempts
        assert isinstance(attempt.error, UpstreamError) and attempt.error.error_type == "UNAVAILABLE"
    assert len(gemini_server.generations) == 1


def test_an_invalid_argument_frame_does_not_fall_back(registry, gemini_server):
    gemini_server.enqueue(frames_reply([error_frame(400, "Invalid value at 'contents'")]))
    with pytest.raises(UpstreamError, match="INVALID_ARGUMENT") as info:
        "".join(create_completion(MODEL, QUESTION, registry=registry))
    assert info.value.fallback_ok is False


def test_an_error_frame_after_the_first_text_interrupts_the_stream(registry, gemini_server):
    frames = [response([text_part("Partial ")]), error_frame(503, "The model is overloaded.")]
    gemini_server.enqueue(frames_reply(frames, split=5))
    completion = create_completion(MODEL, QUESTION, registry=registry)
    received = []
    with pytest.raises(StreamInterrupted, match="overloaded") as info:
        for chunk in completion:
            received.append(chunk)
    assert received == ["Partial "] and completion.provider == "Gemini"
    assert info.value.received_chars == len("Partial ")
