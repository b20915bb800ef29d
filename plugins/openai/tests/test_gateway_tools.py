"""Tools and usage end to end, with a client nobody here wrote: the official ``openai`` SDK
talks to provider-core's gateway, which routes to this plugin, which talks to the loopback
OpenAI server. A full tool loop (the call, the tool's result, the final answer), streamed
and not; usage in both modes; what the upstream receives is what the client sent."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

if any(importlib.util.find_spec(m) is None for m in ("starlette", "uvicorn", "openai")):
    if os.environ.get("PROVIDER_CORE_EXPECT_INSTALLED"):
        raise ImportError("the gateway end-to-end tests need provider-core[server,test]")
    pytest.skip("needs provider-core[server,test] (starlette, uvicorn, openai)", allow_module_level=True)

import openai
from provider_openai.config import EndpointConfig
from provider_openai.models import ModelList
from provider_openai.provider import make_provider
from provider_openai.server import OpenAIServer, completion_reply, stream_reply

from provider_core.events import ToolCall
from provider_core.gateway.testing import running_gateway
from provider_core.provider import AbstractProvider
from provider_core.registry import Registry

WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
QUESTION = [{"role": "user", "content": "Weather in Paris?"}]


class Plain(AbstractProvider):
    """A version-1 provider: text only, no usage reported."""

    url = "http://127.0.0.1/in-process"
    working = True
    supports_stream = True
    models: ClassVar = {"plain-1": "Plain"}

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        yield "twelve "
        yield "chars"


@pytest.fixture(scope="module")
def upstream() -> Iterator[OpenAIServer]:
    with OpenAIServer(models=["demo"]) as server:
        yield server


@pytest.fixture(scope="module")
def gateway_url(upstream: OpenAIServer) -> Iterator[str]:
    registry = Registry(load_entry_points=False)
    endpoint = EndpointConfig(name="up", base_url=upstream.url, source="test")
    registry.register(make_provider(endpoint, ModelList({"demo": "Demo"}, "config")))
    registry.register(Plain)
    with running_gateway(registry) as gateway:
        yield gateway.url + "/v1"


@pytest.fixture
def client(gateway_url: str, upstream: OpenAIServer) -> Iterator[openai.OpenAI]:
    upstream.server.clear()
    with openai.OpenAI(base_url=gateway_url, api_key="unused", max_retries=0, timeout=30) as c:
        yield c


def test_a_whole_tool_loop_not_streamed(client, upstream):
    first = client.chat.completions.create(model="demo", messages=QUESTION, tools=[WEATHER])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.id == f"call_{len(upstream.chats):04d}" and call.type == "function"  # the upstream's id, unchanged
    assert call.function.name == "weather" and json.loads(call.function.arguments) == {"query": "Weather in Paris?"}
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens > 0

    history = [*QUESTION, choice.message, {"role": "tool", "tool_call_id": call.id, "content": "18C, sunny"}]
    final = client.chat.completions.create(model="demo", messages=history, tools=[WEATHER])
    assert final.choices[0].message.content == "The tool said: 18C, sunny"
    assert final.choices[0].finish_reason == "stop" and not final.choices[0].message.tool_calls

    sent = upstream.chats[-1].json
    assert sent["tools"] == [WEATHER]  # unchanged: no key added, none dropped
    assistant = sent["messages"][1]
    assert assistant["tool_calls"][0]["function"]["arguments"] == call.function.arguments  # byte for byte
    assert assistant["tool_calls"][0]["id"] == call.id and assistant.get("content") is None
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": call.id, "content": "18C, sunny"}


def test_a_whole_tool_loop_streamed_with_usage(client, upstream):
    stream = client.chat.completions.create(
        model="demo", messages=QUESTION, tools=[WEATHER], stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    calls = [tc for d in deltas for tc in d.tool_calls or []]
    assert calls[0].id == f"call_{len(upstream.chats):04d}"  # the upstream's id, unchanged
    assert calls[0].type == "function" and calls[0].function.name == "weather"
    assert all(tc.id is None and tc.function.name is None for tc in calls[1:])  # later deltas: arguments only
    arguments = "".join(tc.function.arguments or "" for tc in calls)
    assert json.loads(arguments) == {"query": "Weather in Paris?"}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    last = chunks[-1]
    assert last.choices == [] and last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert "provider_core_usage" not in (last.model_extra or {})  # the upstream's own counts
    assert upstream.chats[-1].json["stream_options"] == {"include_usage": True}

    assistant = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": calls[0].id, "type": "function", "function": {"name": "weather", "arguments": arguments}}
        ],
    }
    history = [*QUESTION, assistant, {"role": "tool", "tool_call_id": calls[0].id, "content": "rain"}]
    final = client.chat.completions.create(model="demo", messages=history, tools=[WEATHER], stream=True)
    chunks = list(final)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "The tool said: rain"
    assert all(c.usage is None for c in chunks)  # not asked for


def test_the_upstreams_usage_is_passed_on_and_no_estimate_header(client, upstream):
    usage = {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}
    upstream.enqueue(completion_reply("counted", usage=usage))
    raw = client.chat.completions.with_raw_response.create(model="demo", messages=QUESTION)
    assert "x-provider-core-usage" not in raw.headers
    assert raw.parse().usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"}) == usage
    upstream.enqueue(stream_reply(["counted"], usage=usage))
    chunks = list(
        client.chat.completions.create(
            model="demo", messages=QUESTION, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].usage.total_tokens == 30


def test_a_provider_without_counts_gets_an_estimate_marked_as_such(client):
    raw = client.chat.completions.with_raw_response.create(
        model="plain-1", messages=[{"role": "user", "content": "x" * 40}]
    )
    assert raw.headers["x-provider-core-usage"] == "estimated"
    usage = raw.parse().usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (10, 3, 13)  # 40 and 12 chars / 4
    chunks = list(
        client.chat.completions.create(
            model="plain-1",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 3
    assert chunks[-1].model_extra["provider_core_usage"] == "estimated"
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_generation_parameters_images_and_json_output_reach_the_upstream(client, upstream):
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "high"}}
    messages = [
        {"role": "developer", "content": "Answer in JSON."},
        {"role": "user", "content": [{"type": "text", "text": "What is this?"}, image]},
    ]
    schema = {"name": "answer", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}
    client.chat.completions.create(
        model="demo",
        messages=messages,
        max_completion_tokens=50,
        temperature=0.2,
        top_p=0.9,
        stop=["END", "STOP"],
        seed=42,
        response_format={"type": "json_schema", "json_schema": schema},
        tool_choice="none",
        tools=[WEATHER],
    )
    sent = upstream.chats[-1].json
    assert sent["messages"][0] == {"role": "system", "content": "Answer in JSON."}
    assert sent["messages"][1]["content"][1] == image  # the URL untouched
    assert (sent["max_tokens"], sent["temperature"], sent["top_p"], sent["seed"]) == (50, 0.2, 0.9, 42)
    assert sent["stop"] == ["END", "STOP"] and sent["tool_choice"] == "none"
    assert sent["response_format"] == {"type": "json_schema", "json_schema": schema}
    assert "stream_options" not in sent


def test_a_tool_call_made_whole_by_the_provider_streams_as_one_delta(client, upstream):
    call = ToolCall("call_whole", "weather", '{"city":"Rome"}')
    upstream.enqueue(completion_reply(None, tool_calls=[call]))  # the gateway asks its provider not to stream
    reply = client.chat.completions.create(model="demo", messages=QUESTION, tools=[WEATHER])
    assert reply.choices[0].message.tool_calls[0].function.arguments == '{"city":"Rome"}'


# -- the llm CLI (Simon Willison's llm), pointed at the gateway ------------------------------


def _llm(user_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("llm")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "llm"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))}
    env["LLM_USER_PATH"] = str(user_dir)
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def llm_home(gateway_url: str, tmp_path: Path) -> Path:
    if importlib.util.find_spec("llm") is None:
        if os.environ.get("PROVIDER_CORE_EXPECT_INSTALLED"):
            pytest.fail("llm is part of the test extra: pip install 'provider-core[test]'")
        pytest.skip("llm is not installed")
    models = f"- model_id: pc-demo\n  model_name: demo\n  api_base: {gateway_url}\n  supports_tools: true\n"
    (tmp_path / "extra-openai-models.yaml").write_text(models, encoding="utf-8")
    return tmp_path


def test_the_llm_cli_streams_and_not_with_usage_logged(llm_home, upstream):
    upstream.server.clear()
    for extra in ([], ["--no-stream"]):
        proc = _llm(llm_home, "-m", "pc-demo", *extra, "Hello from llm")
        assert (proc.returncode, proc.stdout.strip()) == (0, "Hello from llm"), proc.stderr
    assert upstream.chats[0].json["stream"] is True and upstream.chats[1].json["stream"] is False
    logs = _llm(llm_home, "logs", "-n", "2", "--json")
    assert logs.returncode == 0, logs.stderr
    for entry in json.loads(logs.stdout):
        assert entry["input_tokens"] > 0 and entry["output_tokens"] > 0, entry  # usage reached llm


def test_the_llm_cli_runs_a_tool_loop_through_the_gateway(llm_home, upstream):
    function = 'def weather(query: str) -> str:\n    return "18C and sunny"\n'
    proc = _llm(llm_home, "-m", "pc-demo", "--functions", function, "Weather in Paris?")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("The tool said: 18C and sunny")
    first, second = upstream.chats[-2:]
    assert first.json["tools"][0]["function"]["name"] == "weather"
    assert second.json["messages"][-1]["role"] == "tool"
