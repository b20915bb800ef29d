"""The bridge behind ``provider-core serve``, asked by the official OpenAI SDK: llm's built-in
OpenAI model ``loop`` (``extra-openai-models.yaml``) at the OpenAI plugin's loopback server,
streamed and not, with usage, through llm's alias ``lp``, and an upstream error mapped to
OpenAI's error shape."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

import pytest

if importlib.util.find_spec("starlette") is None or importlib.util.find_spec("openai") is None:
    pytest.skip("needs provider-core[server,test] (starlette, uvicorn, openai)", allow_module_level=True)

import openai
from provider_openai.server import OpenAIServer

from provider_core.gateway.testing import ThreadedServer, running_gateway
from provider_core.registry import Registry

HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def server(loopback_model: Callable[..., OpenAIServer]) -> OpenAIServer:
    return loopback_model()


@pytest.fixture
def gateway(server: OpenAIServer) -> Iterator[ThreadedServer]:
    registry = Registry(environ={"PROVIDER_CORE_PLUGINS": "llm"})  # the bridge alone, from its entry point
    with running_gateway(registry) as running:
        yield running


@pytest.fixture
def client(gateway: ThreadedServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0, timeout=60) as c:
        yield c


def test_a_whole_reply_with_the_upstreams_usage(client: openai.OpenAI, server: OpenAIServer, replies: Any) -> None:
    server.enqueue(replies.whole("The whole reply.", usage=(4, 2)))
    reply = client.chat.completions.create(model="loop", messages=HI)
    assert reply.choices[0].message.content == "The whole reply."
    assert reply.choices[0].finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (4, 2, 6)
    assert server.chats[0].json["model"] == "demo"  # llm's model name for the id "loop"


def test_a_stream_with_its_usage_chunk(client: openai.OpenAI, server: OpenAIServer, replies: Any) -> None:
    server.enqueue(replies.stream(["Hel", "lo, ", "wörld 😀"], usage=(5, 3)))
    chunks = list(
        client.chat.completions.create(model="loop", messages=HI, stream=True, stream_options={"include_usage": True})
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello, wörld 😀"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    (last,) = [c for c in chunks if c.usage is not None]
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (5, 3)


def test_llms_alias_is_listed_and_routes(client: openai.OpenAI, server: OpenAIServer, replies: Any) -> None:
    listed = {m.id: m.owned_by for m in client.models.list()}
    assert listed["lp"] == "alias" and "loop" in listed
    server.enqueue(replies.whole("via the alias"))
    assert client.chat.completions.create(model="lp", messages=HI).choices[0].message.content == "via the alias"
    assert server.chats[-1].json["model"] == "demo"


def test_an_upstream_error_is_openais_error_shape(client: openai.OpenAI, server: OpenAIServer, replies: Any) -> None:
    server.enqueue(replies.error(400, "This model's maximum context length is exceeded."))
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="loop", messages=HI)
    assert caught.value.status_code == 400  # the upstream's own refusal, kept a 400
    body = caught.value.body
    assert isinstance(body, dict) and body["code"] == "upstream_rejected"
    assert body["message"].startswith("llm-default: the upstream refused the request (HTTP 400)")
    assert "maximum context length" in body["message"] and "Traceback" not in body["message"]
