"""The gateway over the real Aivvm plugin, talking to its loopback server (nothing leaves
127.0.0.1): the whole path, openai client -> gateway -> Aivvm provider -> HTTP upstream."""

from __future__ import annotations

import asyncio
import os

import httpx
import openai
import pytest

from provider_core.gateway.config import GatewayConfig
from provider_core.registry import Registry

if os.environ.get("PROVIDER_CORE_EXPECT_INSTALLED"):
    from provider_aivvm import MODELS, Aivvm
    from provider_aivvm.server import AivvmServer
else:
    provider_aivvm = pytest.importorskip("provider_aivvm")
    from provider_aivvm import MODELS, Aivvm
    from provider_aivvm.server import AivvmServer


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def upstream():
    with AivvmServer(chunk_size=5) as server:
        yield server


@pytest.fixture(scope="module")
def aivvm_gateway(upstream, helpers):
    """Aivvm is marked not working (as its spec says): the gateway is told to use it anyway."""
    os.environ["AIVVM_BASE_URL"] = upstream.url
    registry = Registry(load_entry_points=False)
    registry.register(Aivvm)
    try:
        with helpers.running(registry, GatewayConfig(include_not_working=True)) as server:
            yield server
    finally:
        del os.environ["AIVVM_BASE_URL"]


@pytest.fixture
def aclient(aivvm_gateway, helpers):
    with helpers.openai_client(aivvm_gateway) as client:
        yield client


def test_models_are_the_aivvm_models(aclient):
    assert sorted(m.id for m in aclient.models.list()) == sorted(MODELS)


def test_stream_routed_by_model_name_is_exact_text(aclient, upstream):
    text = "Привет, мир 👋 — ünïcödé split at every byte"
    upstream.script(text, chunk_size=1)
    stream = aclient.chat.completions.create(model="gpt-4", messages=user("hi"), stream=True)
    chunks = [c.choices[0].delta.content for c in stream if c.choices[0].delta.content]
    assert "".join(chunks) == text
    assert len(chunks) > 10  # it did stream
    sent = upstream.requests[-1].json
    assert sent["model"] == {"id": "gpt-4", "name": "GPT-4"}
    assert sent["messages"] == user("hi")


def test_non_stream_with_system_and_temperature(aclient, upstream):
    reply = aclient.chat.completions.create(
        model="gpt-3.5-turbo",
        messages=[{"role": "system", "content": "Be terse."}, *user("echo me")],
        temperature=0.3,
    )
    assert reply.choices[0].message.content == "echo me"
    assert reply.model_extra["provider"] == "Aivvm"
    sent = upstream.requests[-1].json
    assert sent["prompt"] == "Be terse."
    assert sent["temperature"] == 0.3


def test_upstream_429_reaches_the_client_as_429(aclient, upstream):
    upstream.script(status=429, headers={"Retry-After": "11"}, body="slow down")
    with pytest.raises(openai.RateLimitError) as info:
        aclient.chat.completions.create(model="gpt-4", messages=user("x"), stream=True)
    assert info.value.response.headers["retry-after"] == "11"


def test_upstream_reset_mid_stream_is_an_error_event(aclient, upstream):
    upstream.script("0123456789" * 5, chunk_size=10, reset_after=25, delay_between=0.01)
    stream = aclient.chat.completions.create(model="gpt-4", messages=user("x"), stream=True)
    got = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == ("0123456789" * 5)[: len("".join(got))]
    assert info.value.body["code"] == "stream_interrupted"


def test_client_disconnect_closes_the_upstream_connection(aivvm_gateway, upstream):
    upstream.script("x" * 2000, chunk_size=10, delay_between=0.02)  # 4 s if read to the end
    body = {"model": "gpt-4", "messages": user("x"), "stream": True}
    with (
        httpx.Client(timeout=30) as http,
        http.stream("POST", aivvm_gateway.url + "/v1/chat/completions", json=body) as r,
    ):
        lines = r.iter_lines()
        assert next(lines).startswith("data: ")
        request = upstream.requests[-1]
    assert request.done.wait(15), "the upstream reply was not cut short"
    assert request.outcome == "client-gone"
    assert request.body_bytes_sent < 2000


def test_200_concurrent_streams_through_the_aivvm_plugin(aivvm_gateway):
    from openai import AsyncOpenAI

    n = 200

    async def one(client: AsyncOpenAI, i: int) -> str:
        stream = await client.chat.completions.create(
            model="gpt-4", messages=user(f"client {i}: Привет 👋 " + "x" * (i % 17)), stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream])

    async def main() -> list:
        async with AsyncOpenAI(base_url=aivvm_gateway.url + "/v1", api_key="unused", max_retries=0, timeout=60) as c:
            return await asyncio.gather(*(one(c, i) for i in range(n)), return_exceptions=True)

    results = asyncio.run(main())
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"{len(errors)} of {n} failed, first: {errors[0]!r}"
    for i, text in enumerate(results):
        assert text == f"client {i}: Привет 👋 " + "x" * (i % 17)
