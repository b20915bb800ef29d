"""Contract v2 in the core: request options, content parts, tool messages, events,
assembled tool calls, ChatResult, capability routing, and version-1 providers unchanged."""

from __future__ import annotations

import asyncio

import pytest

from provider_core import (
    ChatResult,
    FinishReason,
    ToolCall,
    ToolCallDelta,
    Usage,
    acreate_completion,
    create_completion,
)
from provider_core.errors import InvalidMessages, NoProviderAvailable, ProviderContractError, StreamInterrupted
from provider_core.messages import validate_messages

USER = [{"role": "user", "content": "hi"}]
WEATHER = {
    "type": "function",
    "function": {"name": "weather", "description": "Weather in a city", "parameters": {"type": "object"}},
}
TOOL_LOOP = [
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"},
]
IMAGE = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is "},
            {"type": "text", "text": "this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        ],
    }
]


def streamed_call(cls, model, messages, stream, **kwargs):
    yield "Let me check. "
    yield ToolCallDelta(0, id="call_9", name="weather")
    yield ToolCallDelta(0, arguments='{"city": ')
    yield ToolCallDelta(1, id="call_10", name="time")
    yield ToolCallDelta(0, arguments='"Paris"}')
    yield ToolCallDelta(1, arguments="{}")
    yield Usage(prompt_tokens=20, completion_tokens=9)
    yield FinishReason("tool_calls")


# -- requests ----------------------------------------------------------------------------


def test_options_reach_the_provider_as_given_and_none_is_not_sent(registry, make_provider):
    seen = {}

    def body(cls, model, messages, stream, **kwargs):
        seen.update(kwargs)
        yield "ok"

    registry.register(make_provider("P", body=body, supports_tools=True, supports_json=True))
    options = {
        "tools": [WEATHER],
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        "response_format": {"type": "json_object"},
        "max_tokens": 5,
        "temperature": 0.5,
        "top_p": 0.9,
        "stop": ["\n\n", "END"],
        "seed": 7,
    }
    assert create_completion("m", USER, stream=False, registry=registry, **options) == "ok"
    assert seen == options and seen["tools"][0] is WEATHER  # unchanged, not copied into another shape
    seen.clear()
    create_completion("m", USER, stream=False, registry=registry, tools=None, seed=None, system_message="x")
    assert seen == {"system_message": "x"}


@pytest.mark.parametrize(
    ("options", "where"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"top_p": 1.5}, "top_p"),
        ({"seed": "7"}, "seed"),
        ({"stop": []}, "stop"),
        ({"stop": ["ok", ""]}, "stop"),
        ({"tools": [{"type": "function", "function": {"name": "a b"}}]}, "tools[0].function.name"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parametrs": {}}}]}, "tools[0].function.parametrs"),
        ({"tools": []}, "tools"),
        ({"tools": [WEATHER, WEATHER]}, "tools[1].function.name"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"tool_choice": "required"}, "tool_choice"),
        (
            {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "time"}}},
            "tool_choice.function.name",
        ),
        ({"response_format": {"type": "yaml"}}, "response_format"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema.json_schema"),
    ],
)
def test_bad_options_are_refused_before_any_request_naming_the_field(registry, make_provider, options, where):
    calls = []
    registry.register(make_provider("P", body=lambda *a, **k: calls.append(1) or iter(["x"]), supports_tools=True))
    with pytest.raises(InvalidMessages) as info:
        create_completion("m", USER, registry=registry, **options)
    assert any(loc.startswith(where.split(".json_schema")[0]) for loc, _ in info.value.errors), info.value.errors
    assert calls == []


def test_tool_loop_messages_and_content_parts_are_accepted_unchanged():
    assert validate_messages(TOOL_LOOP) == TOOL_LOOP
    assert validate_messages(IMAGE) == IMAGE


@pytest.mark.parametrize(
    ("message", "where"),
    [
        ({"role": "user", "content": None}, "messages[0].content"),
        ({"role": "assistant", "content": None}, "messages[0].content"),
        ({"role": "user", "content": []}, "messages[0].content"),
        ({"role": "user", "content": [{"type": "audio", "data": "x"}]}, "messages[0].content[0]"),
        ({"role": "user", "content": [{"type": "text", "text": 3}]}, "messages[0].content[0]"),
        (
            {"role": "system", "content": [{"type": "image_url", "image_url": {"url": "u"}}]},
            "messages[0].content[0].type",
        ),
        ({"role": "user", "content": "x", "tool_calls": TOOL_LOOP[1]["tool_calls"]}, "messages[0].tool_calls"),
        ({"role": "user", "content": "x", "tool_call_id": "call_1"}, "messages[0].tool_call_id"),
        (
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "function"}]},
            "messages[0].tool_calls[0].function",
        ),
        (
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": {}}}],
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
    ],
)
def test_bad_v2_messages_name_the_index_and_field(message, where):
    with pytest.raises(InvalidMessages) as info:
        validate_messages([message])
    assert where in [loc for loc, _ in info.value.errors], info.value.errors


# -- events ------------------------------------------------------------------------------


def test_completion_yields_text_and_holds_the_assembled_calls_usage_and_finish(registry, make_provider):
    registry.register(make_provider("P", body=streamed_call))
    completion = create_completion("m", USER, registry=registry)
    assert list(completion) == ["Let me check. "]
    assert completion.tool_calls == [
        ToolCall("call_9", "weather", '{"city": "Paris"}'),
        ToolCall("call_10", "time", "{}"),
    ]
    assert completion.usage == Usage(20, 9, 29)
    assert completion.finish_reason == "tool_calls"


def test_events_yield_everything_in_order(registry, make_provider):
    registry.register(make_provider("P", body=streamed_call))
    completion = create_completion("m", USER, registry=registry)
    assert list(completion.events()) == list(streamed_call(None, "m", USER, True))
    assert completion.tool_calls[0].arguments == '{"city": "Paris"}'


def test_stream_false_returns_a_chat_result(registry, make_provider):
    registry.register(make_provider("P", body=streamed_call))
    result = create_completion("m", USER, stream=False, registry=registry)
    assert isinstance(result, ChatResult) and isinstance(result, str)
    assert result == "Let me check. " and result.provider == "P"
    assert [c.name for c in result.tool_calls] == ["weather", "time"]
    assert result.usage.total_tokens == 29 and result.finish_reason == "tool_calls"


def test_a_reply_of_tool_calls_only_delivers_and_a_whole_call_passes_as_is(registry, make_provider):
    def whole(cls, model, messages, stream, **kwargs):
        yield ToolCall("toolu_1", "weather", '{"city":"Oslo"}')
        yield FinishReason("tool_calls")

    registry.register(make_provider("P", body=whole))
    result = create_completion("m", USER, stream=False, registry=registry)
    assert result == "" and result.tool_calls == [ToolCall("toolu_1", "weather", '{"city":"Oslo"}')]
    assert result.usage is None


def test_a_version_one_reply_has_no_events(registry, make_provider):
    registry.register(make_provider("P"))
    completion = create_completion("m", USER, registry=registry)
    assert "".join(completion) == "P:hi"
    assert (completion.tool_calls, completion.usage, completion.finish_reason) == ([], None, None)


def _broken(*items):
    def body(cls, model, messages, stream, **kwargs):
        yield "text"
        yield from items

    return body


@pytest.mark.parametrize(
    ("items", "rule"),
    [
        ((Usage(1, 1), Usage(1, 1)), "usage-once"),
        ((Usage(-1, 1),), "usage-once"),
        ((FinishReason("stop"), "more"), "finish-last"),
        ((FinishReason("done"),), "finish-last"),
        ((ToolCallDelta(0, arguments="{}"),), "tool-call-delta"),
        ((ToolCallDelta(0, id="a", name="f"), ToolCallDelta(0, id="b")), "tool-call-delta"),
        ((ToolCallDelta(-1, id="a", name="f"),), "tool-call-delta"),
        ((ToolCall("", "f"),), "tool-call-delta"),
        ((b"bytes",), "chunk-str"),
    ],
)
def test_a_malformed_stream_is_a_contract_error_naming_the_rule(registry, make_provider, items, rule):
    registry.register(make_provider("P", body=_broken(*items)))
    with pytest.raises(StreamInterrupted) as info:
        "".join(create_completion("m", USER, registry=registry))
    cause = info.value.__cause__
    assert isinstance(cause, ProviderContractError) and cause.rule == rule


def test_a_malformed_event_before_any_text_falls_back(registry, make_provider):
    def bad(cls, model, messages, stream, **kwargs):
        yield ToolCallDelta(0, arguments="{}")  # no id, no name

    registry.register(make_provider("Bad", body=bad, priority=1))
    registry.register(make_provider("Good"))
    with pytest.warns(Warning, match="tool-call-delta|began tool call"):
        assert create_completion("m", USER, stream=False, registry=registry) == "Good:hi"


# -- capability routing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("messages", "options", "reason"),
    [
        (USER, {"tools": [WEATHER]}, "does not support tools"),
        (TOOL_LOOP, {}, "does not support tools"),
        (IMAGE, {}, "does not support images"),
        (USER, {"response_format": {"type": "json_object"}}, "does not support JSON output"),
    ],
)
def test_routing_skips_a_provider_lacking_what_the_request_needs(registry, make_provider, messages, options, reason):
    registry.register(make_provider("Plain", priority=5))
    registry.register(
        make_provider(
            "Able", body=lambda *a, **k: iter(["able"]), supports_tools=True, supports_vision=True, supports_json=True
        )
    )
    result = create_completion("m", messages, stream=False, registry=registry, **options)
    assert result == "able"
    plan = registry.router.plan(
        "m", stream=True, needs=__import__("provider_core.options").options.needs(messages, options)
    )
    assert [a.reason for a in plan.skipped] == [reason]


def test_a_request_no_provider_can_serve_says_why(registry, make_provider):
    registry.register(make_provider("Plain"))
    with pytest.raises(NoProviderAvailable, match="Plain: does not support tools") as info:
        create_completion("m", USER, registry=registry, tools=[WEATHER])
    assert "include_not_working" not in str(info.value)  # no hint to force it: it cannot help
    with pytest.raises(NoProviderAvailable, match="Plain: does not support images"):
        create_completion("m", IMAGE, registry=registry, provider="Plain")


def test_text_format_needs_nothing(registry, make_provider):
    registry.register(make_provider("Plain"))
    assert create_completion("m", USER, stream=False, registry=registry, response_format={"type": "text"}) == "Plain:hi"


def test_a_provider_without_vision_gets_text_parts_joined_as_a_string(registry, make_provider):
    seen = []

    def body(cls, model, messages, stream, **kwargs):
        seen.append(messages)
        yield "ok"

    registry.register(make_provider("V1", body=body))
    parts = [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
    assert create_completion("m", parts, stream=False, registry=registry) == "ok"
    assert seen[0] == [{"role": "user", "content": "ab"}]
    assert parts[0]["content"][0] == {"type": "text", "text": "a"}  # the caller's list untouched


# -- async -------------------------------------------------------------------------------


def test_async_completion_mirrors_the_sync_one(registry, make_provider):
    registry.register(make_provider("P", body=streamed_call))

    async def main():
        completion = acreate_completion("m", USER, registry=registry)
        chunks = [chunk async for chunk in completion]
        events = [item async for item in acreate_completion("m", USER, registry=registry).events()]
        whole = await acreate_completion("m", USER, stream=False, registry=registry, max_tokens=3)
        return completion, chunks, events, whole

    completion, chunks, events, whole = asyncio.run(main())
    assert chunks == ["Let me check. "]
    assert completion.tool_calls[0] == ToolCall("call_9", "weather", '{"city": "Paris"}')
    assert completion.usage == Usage(20, 9) and completion.finish_reason == "tool_calls"
    assert events == list(streamed_call(None, "m", USER, True))
    assert isinstance(whole, ChatResult) and whole.provider == "P" and len(whole.tool_calls) == 2


def test_async_refuses_what_sync_refuses(registry, make_provider):
    registry.register(make_provider("Plain"))
    with pytest.raises(NoProviderAvailable, match="does not support tools"):
        acreate_completion("m", USER, registry=registry, tools=[WEATHER])
    with pytest.raises(InvalidMessages, match="max_tokens"):
        acreate_completion("m", USER, registry=registry, max_tokens=-1)
