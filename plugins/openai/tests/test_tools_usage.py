"""Contract v2 through the OpenAI plugin, against the loopback server: requests forwarded
exactly, tool calls streamed and whole, usage, finish reasons, and the stream_options retry."""

from __future__ import annotations

import json

import pytest
from provider_openai.config import EndpointConfig
from provider_openai.models import ModelList
from provider_openai.provider import make_provider
from provider_openai.server import completion_reply, error_reply, stream_reply

from provider_core import FinishReason, ToolCall, ToolCallDelta, Usage, create_completion
from provider_core.errors import ProviderHTTPError
from provider_core.registry import Registry

USER = [{"role": "user", "content": "Weather in Paris?"}]
TOOL = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
# arguments as a model writes them: spacing and key order that re-serializing would change
ARGUMENTS = '{ "city" :"Paris",  "units":"C" }'
HISTORY = [
    *USER,
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "call_abc", "type": "function", "function": {"name": "weather", "arguments": ARGUMENTS}}],
    },
    {"role": "tool", "tool_call_id": "call_abc", "content": "18C"},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "And this picture?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
        ],
    },
]
USAGE = {"prompt_tokens": 31, "completion_tokens": 12, "total_tokens": 43}


def make(url: str, **settings):
    endpoint = EndpointConfig(name="ep", base_url=url, source="test", **settings)
    return make_provider(endpoint, ModelList({"demo": "demo"}, "config"))


def routed(cls) -> Registry:
    registry = Registry(load_entry_points=False)
    registry.register(cls)
    return registry


def test_everything_is_forwarded_exactly_as_given(openai_server):
    cls = make(openai_server.url)
    options = {
        "tools": [TOOL],
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}}},
        "max_tokens": 64,
        "top_p": 0.5,
        "stop": ["END"],
        "seed": 3,
    }
    openai_server.enqueue(completion_reply("ok"))
    assert create_completion("demo", HISTORY, stream=False, registry=routed(cls), **options) == "ok"
    body = openai_server.chats[0].json
    assert body == {"model": "demo", "messages": HISTORY, "stream": False, **options}  # no stream_options, no added key
    raw = openai_server.chats[0].body.decode()
    assert json.dumps(ARGUMENTS) in raw  # the arguments string byte for byte


def test_max_tokens_goes_as_max_completion_tokens_where_configured(openai_server):
    cls = make(openai_server.url, max_tokens_param="max_completion_tokens")
    create_completion("demo", USER, stream=False, registry=routed(cls), max_tokens=5)
    assert openai_server.chats[0].json["max_completion_tokens"] == 5 and "max_tokens" not in openai_server.chats[0].json


def test_unknown_keywords_are_not_sent_and_extra_body_is(openai_server):
    cls = make(openai_server.url)
    create_completion("demo", USER, stream=False, registry=routed(cls), top_k=5, extra_body={"min_p": 0.1})
    body = openai_server.chats[0].json
    assert "top_k" not in body and body["min_p"] == 0.1


def test_a_streamed_tool_call_is_assembled_and_the_usage_and_finish_arrive(openai_server):
    call = ToolCall("call_upstream_7", "weather", ARGUMENTS)
    openai_server.enqueue(stream_reply(["Checking. "], tool_calls=[call], usage=USAGE, split=5))
    completion = create_completion("demo", USER, registry=routed(make(openai_server.url)), tools=[TOOL])
    assert list(completion) == ["Checking. "]
    assert completion.tool_calls == [call]  # the upstream's id, the arguments byte for byte
    assert completion.usage == Usage(31, 12, 43) and completion.finish_reason == "tool_calls"
    assert openai_server.chats[0].json["stream_options"] == {"include_usage": True}


def test_the_provider_yields_deltas_then_usage_then_the_finish_reason(openai_server):
    call = ToolCall("call_1", "weather", '{"city":"Oslo"}')
    openai_server.enqueue(stream_reply([], tool_calls=[call], usage=USAGE))
    items = list(make(openai_server.url).create_completion("demo", USER, True, tools=[TOOL]))
    deltas = [i for i in items if isinstance(i, ToolCallDelta)]
    assert deltas[0] == ToolCallDelta(0, id="call_1", name="weather", arguments="")
    assert all(d.id is None and d.name is None for d in deltas[1:])
    assert "".join(d.arguments for d in deltas) == '{"city":"Oslo"}'
    assert items[-2:] == [Usage(31, 12, 43), FinishReason("tool_calls")]


def test_a_whole_tool_call_and_usage_in_a_json_reply(openai_server):
    call = ToolCall("call_9", "weather", ARGUMENTS)
    openai_server.enqueue(completion_reply(None, tool_calls=[call], usage=USAGE))
    result = create_completion("demo", USER, stream=False, registry=routed(make(openai_server.url)), tools=[TOOL])
    assert result == "" and result.tool_calls == [call]
    assert result.usage == Usage(31, 12, 43) and result.finish_reason == "tool_calls" and result.provider == "ep"


def test_servers_that_repeat_the_id_or_send_none_are_read_leniently(openai_server):
    from provider_openai.server import chat_chunk, sse

    def chunk(delta):
        return {**chat_chunk(), "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}

    body = sse(
        chunk({"tool_calls": [{"index": 0, "type": "function", "function": {"name": "weather", "arguments": "{"}}]}),
        chunk({"tool_calls": [{"index": 0, "id": "", "function": {"name": "weather", "arguments": "}"}}]}),
        chat_chunk(finish_reason="function_call"),
        "[DONE]",
    )
    from provider_core.testing.server import Reply

    openai_server.enqueue(Reply(200, body=body, headers={"content-type": "text/event-stream"}))
    completion = create_completion("demo", USER, registry=routed(make(openai_server.url)), tools=[TOOL])
    assert list(completion) == []
    (call,) = completion.tool_calls
    assert call.id.startswith("call_") and call.name == "weather" and call.arguments == "{}"
    assert completion.finish_reason == "tool_calls"


@pytest.mark.parametrize(("upstream", "ours"), [("stop", "stop"), ("length", "length"), ("eos", "stop"), ("odd", None)])
def test_finish_reasons_are_mapped(openai_server, upstream, ours):
    openai_server.enqueue(stream_reply(["x"], finish_reason=upstream))
    completion = create_completion("demo", USER, registry=routed(make(openai_server.url)))
    assert list(completion) == ["x"] and completion.finish_reason == ours


def test_a_server_refusing_stream_options_is_asked_again_without_and_remembered(openai_server):
    cls = make(openai_server.url)
    registry = routed(cls)
    openai_server.enqueue(error_reply(400, "Unrecognized request argument supplied: stream_options"))
    assert "".join(create_completion("demo", USER, registry=registry)) == "Weather in Paris?"
    assert "".join(create_completion("demo", USER, registry=registry)) == "Weather in Paris?"
    first, retry, later = openai_server.chats
    assert "stream_options" in first.json
    assert "stream_options" not in retry.json and "stream_options" not in later.json


def test_another_400_is_not_retried(openai_server):
    openai_server.enqueue(error_reply(400, "Invalid value for 'temperature'."))
    with pytest.raises(ProviderHTTPError):
        list(make(openai_server.url).create_completion("demo", USER, True))
    assert len(openai_server.chats) == 1


def test_stream_usage_can_be_turned_off_per_endpoint(openai_server):
    cls = make(openai_server.url, stream_usage=False)
    assert "".join(create_completion("demo", USER, registry=routed(cls))) == "Weather in Paris?"
    assert "stream_options" not in openai_server.chats[0].json


def test_a_text_only_endpoint_is_skipped_for_tools(openai_server):
    from provider_core.errors import NoProviderAvailable

    cls = make(openai_server.url, supports_tools=False)
    with pytest.raises(NoProviderAvailable, match="ep: does not support tools"):
        create_completion("demo", USER, registry=routed(cls), tools=[TOOL])
    assert openai_server.chats == []
