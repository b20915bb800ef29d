"""Tools and usage end to end with a client nobody here wrote: the official ``openai`` SDK
talks to provider-core's gateway, which routes to the Gemini provider, which talks to the
loopback Gemini server. A full tool loop (the call, the function's result, the final
answer), streamed and not; Gemini's own token counts in both modes, never an estimate."""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Iterator

import pytest

if any(importlib.util.find_spec(m) is None for m in ("starlette", "uvicorn", "openai")):
    if os.environ.get("PROVIDER_CORE_EXPECT_INSTALLED"):
        raise ImportError("the gateway end-to-end tests need provider-core[server,test]")
    pytest.skip("needs provider-core[server,test] (starlette, uvicorn, openai)", allow_module_level=True)

import openai
from provider_gemini.provider import configure
from provider_gemini.server import GeminiServer, generate_reply, response, stream_reply, text_part, usage_metadata

from provider_core.gateway.testing import running_gateway
from provider_core.registry import Registry

MODEL = "gemini-3.8-flash"
KEY = "gateway-upstream-key-5d1c"
WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
QUESTION = [{"role": "user", "content": "Weather in Paris?"}]
CALL_ID = re.compile(r"call_[0-9a-f]{24}")


@pytest.fixture(scope="module")
def upstream() -> Iterator[GeminiServer]:
    with GeminiServer(api_key=KEY) as server:
        yield server


@pytest.fixture(scope="module")
def gateway_url(upstream: GeminiServer) -> Iterator[str]:
    """The gateway in a thread (uvicorn), over a registry holding only the Gemini provider."""
    registry = Registry(load_entry_points=False)
    registry.register(configure({"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": upstream.url}))
    with running_gateway(registry) as gateway:
        yield gateway.url + "/v1"


@pytest.fixture
def client(gateway_url: str, upstream: GeminiServer) -> Iterator[openai.OpenAI]:
    upstream.server.clear()
    with openai.OpenAI(base_url=gateway_url, api_key="unused", max_retries=0, timeout=30) as c:
        yield c


def _sent_result(upstream: GeminiServer) -> dict:
    """The function result part of the last request the Gemini server received."""
    return upstream.generations[-1].json["contents"][-1]["parts"][-1]


def test_a_whole_tool_loop_not_streamed(client, upstream):
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=QUESTION, tools=[WEATHER])
    assert "x-provider-core-usage" not in raw.headers  # Gemini's own counts
    first = raw.parse()
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    assert CALL_ID.fullmatch(call.id) and call.type == "function"  # Gemini sends no id: the plugin's
    assert call.function.name == "weather" and json.loads(call.function.arguments) == {"query": "Weather in Paris?"}
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens > 0
    assert upstream.generations[-1].path.endswith(":generateContent")  # the gateway did not ask for a stream

    history = [*QUESTION, choice.message, {"role": "tool", "tool_call_id": call.id, "content": "18C, sunny"}]
    final = client.chat.completions.create(model=MODEL, messages=history, tools=[WEATHER])
    assert final.choices[0].message.content == "The tool said: 18C, sunny"
    assert final.choices[0].finish_reason == "stop" and not final.choices[0].message.tool_calls
    assert _sent_result(upstream) == {"functionResponse": {"name": "weather", "response": {"content": "18C, sunny"}}}
    assert upstream.generations[-1].headers["x-goog-api-key"] == KEY


def test_a_whole_tool_loop_streamed_with_usage(client, upstream):
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=QUESTION, tools=[WEATHER], stream=True, stream_options={"include_usage": True}
        )
    )
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    (call,) = calls  # Gemini delivers a call whole: one delta with id, name and every argument
    assert CALL_ID.fullmatch(call.id) and call.type == "function" and call.function.name == "weather"
    assert json.loads(call.function.arguments) == {"query": "Weather in Paris?"}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    last = chunks[-1]
    assert last.choices == [] and last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert "provider_core_usage" not in (last.model_extra or {})  # Gemini's counts, not an estimate
    assert upstream.generations[-1].path.endswith(":streamGenerateContent?alt=sse")

    assistant = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": call.id, "type": "function", "function": {"name": "weather", "arguments": call.function.arguments}}
        ],
    }
    history = [*QUESTION, assistant, {"role": "tool", "tool_call_id": call.id, "content": "rain"}]
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=history, tools=[WEATHER], stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "The tool said: rain"
    assert chunks[-1].usage.completion_tokens > 0 and "provider_core_usage" not in (chunks[-1].model_extra or {})
    assert _sent_result(upstream) == {"functionResponse": {"name": "weather", "response": {"content": "rain"}}}


def test_geminis_usage_is_passed_on_exactly_in_both_modes(client, upstream):
    counts = usage_metadata(20, 6, thoughts=4)  # thinking tokens count as completion tokens
    upstream.enqueue(generate_reply(response([text_part("counted")], finish_reason="STOP", usage=counts)))
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=QUESTION)
    assert "x-provider-core-usage" not in raw.headers
    usage = raw.parse().usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (20, 10, 30)

    upstream.enqueue(stream_reply(["coun", "ted"], usage=counts, split=3))
    raw_stream = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=QUESTION, stream=True, stream_options={"include_usage": True}
    )
    assert "x-provider-core-usage" not in raw_stream.headers
    chunks = list(raw_stream.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "counted"
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (20, 10)


def test_generation_parameters_and_json_output_reach_gemini(client, upstream):
    schema = {"name": "answer", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}
    client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "system", "content": "Answer in JSON."}, *QUESTION],
        max_completion_tokens=50,
        temperature=0.2,
        top_p=0.9,
        stop=["END", "STOP"],
        seed=42,
        response_format={"type": "json_schema", "json_schema": schema},
        tool_choice="none",
        tools=[WEATHER],
    )
    sent = upstream.generations[-1].json
    assert sent["systemInstruction"] == {"parts": [{"text": "Answer in JSON."}]}
    assert sent["generationConfig"] == {
        "maxOutputTokens": 50,
        "temperature": 0.2,
        "topP": 0.9,
        "seed": 42,
        "stopSequences": ["END", "STOP"],
        "responseMimeType": "application/json",
        "responseJsonSchema": schema["schema"],
    }
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}
