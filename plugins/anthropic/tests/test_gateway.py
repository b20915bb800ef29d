"""Tools and usage end to end with a client nobody here wrote: the official ``openai`` SDK
talks to provider-core's gateway, which routes to this plugin, which talks to the loopback
Anthropic server. A whole tool loop streamed and not, with Anthropic's ``toolu_...`` ids
reaching the client unchanged; the upstream's usage in both modes, never an estimate."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator

import pytest

if any(importlib.util.find_spec(m) is None for m in ("starlette", "uvicorn", "openai")):
    if os.environ.get("PROVIDER_CORE_EXPECT_INSTALLED"):
        raise ImportError("the gateway end-to-end tests need provider-core[server,test]")
    pytest.skip("needs provider-core[server,test] (starlette, uvicorn, openai)", allow_module_level=True)

import openai
from provider_anthropic import configured
from provider_anthropic.server import AnthropicServer, message_reply, stream_reply

from provider_core.gateway.testing import running_gateway
from provider_core.registry import Registry

MODEL = "claude-haiku-5-5"
WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    },
}
QUESTION = [{"role": "user", "content": "Weather in Paris?"}]


@pytest.fixture(scope="module")
def upstream() -> Iterator[AnthropicServer]:
    with AnthropicServer(api_key="sk-ant-gateway-upstream") as server:
        yield server


@pytest.fixture(scope="module")
def gateway_url(upstream: AnthropicServer) -> Iterator[str]:
    registry = Registry(load_entry_points=False)
    environment = {"ANTHROPIC_API_KEY": "sk-ant-gateway-upstream", "ANTHROPIC_BASE_URL": upstream.url}
    registry.register(configured(environment))
    with running_gateway(registry) as gateway:
        yield gateway.url + "/v1"


@pytest.fixture
def client(gateway_url: str, upstream: AnthropicServer) -> Iterator[openai.OpenAI]:
    upstream.server.clear()
    with openai.OpenAI(base_url=gateway_url, api_key="unused", max_retries=0, timeout=30) as c:
        yield c


def _sent_tool_turns(upstream: AnthropicServer, call_id: str, arguments: str, result: str) -> None:
    """The last upstream request carried the call and its result as Anthropic blocks."""
    sent = upstream.messages_requests[-1].json
    assert sent["tools"][0]["name"] == "weather" and sent["model"] == MODEL
    assert sent["messages"][1]["content"] == [
        {"type": "tool_use", "id": call_id, "name": "weather", "input": json.loads(arguments)}
    ]
    assert sent["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": call_id, "content": result}]


def test_a_whole_tool_loop_not_streamed(client, upstream):
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=QUESTION, tools=[WEATHER])
    assert "x-provider-core-usage" not in raw.headers  # the upstream's counts, not an estimate
    first = raw.parse()
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and not choice.message.content
    (call,) = choice.message.tool_calls
    assert call.id == f"toolu_loopback_{len(upstream.messages_requests):04d}"  # Anthropic's id, unchanged
    assert call.type == "function" and call.function.name == "weather"
    assert json.loads(call.function.arguments) == {"query": "Weather in Paris?"}
    assert first.usage.completion_tokens == 12 and first.usage.total_tokens == first.usage.prompt_tokens + 12
    assert upstream.messages_requests[-1].json["stream"] is False

    history = [*QUESTION, choice.message, {"role": "tool", "tool_call_id": call.id, "content": "18C, sunny"}]
    final = client.chat.completions.create(model=MODEL, messages=history, tools=[WEATHER])
    assert final.choices[0].message.content == "The tool said: 18C, sunny"
    assert final.choices[0].finish_reason == "stop" and not final.choices[0].message.tool_calls
    assert final.usage.completion_tokens == 5
    _sent_tool_turns(upstream, call.id, call.function.arguments, "18C, sunny")


def test_a_whole_tool_loop_streamed_with_usage(client, upstream):
    stream = client.chat.completions.create(
        model=MODEL, messages=QUESTION, tools=[WEATHER], stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert calls[0].id == f"toolu_loopback_{len(upstream.messages_requests):04d}"  # Anthropic's id, unchanged
    assert calls[0].type == "function" and calls[0].function.name == "weather"
    assert all(tc.id is None and tc.function.name is None for tc in calls[1:])  # later deltas: arguments only
    arguments = "".join(tc.function.arguments or "" for tc in calls)
    assert json.loads(arguments) == {"query": "Weather in Paris?"}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens == 12
    assert last.usage.total_tokens == last.usage.prompt_tokens + 12
    assert "provider_core_usage" not in (last.model_extra or {})  # the upstream's own counts
    assert upstream.messages_requests[-1].json["stream"] is True

    assistant = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": calls[0].id, "type": "function", "function": {"name": "weather", "arguments": arguments}}
        ],
    }
    history = [*QUESTION, assistant, {"role": "tool", "tool_call_id": calls[0].id, "content": "rain"}]
    final = list(
        client.chat.completions.create(
            model=MODEL, messages=history, tools=[WEATHER], stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in final if c.choices) == "The tool said: rain"
    assert [c.choices[0].finish_reason for c in final if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert final[-1].usage.completion_tokens == 4 and "provider_core_usage" not in (final[-1].model_extra or {})
    _sent_tool_turns(upstream, calls[0].id, arguments, "rain")


def test_scripted_usage_and_finish_reasons_pass_through_both_ways(client, upstream):
    upstream.enqueue(message_reply("counted", usage=(20, 10), stop_reason="max_tokens"))
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=QUESTION)
    reply = raw.parse()
    assert "x-provider-core-usage" not in raw.headers and reply.choices[0].finish_reason == "length"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (20, 10, 30)

    upstream.enqueue(stream_reply(["coun", "ted"], usage=(21, 11), stop_reason="refusal", split=4))
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=QUESTION, stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "counted"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "content_filter"
    ]
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (21, 11)
    assert "provider_core_usage" not in (chunks[-1].model_extra or {})
