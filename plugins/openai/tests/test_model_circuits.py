"""Circuits per (provider, model), against one OpenAI-protocol endpoint serving two models
(the LiteLLM-proxy case): faults of one model leave the other routed; connection faults
open the whole endpoint; the gateway's 503 says when to come back, and /v1/models keeps
listing the model whose circuit is open. The breaker runs on a fake clock."""

from __future__ import annotations

import importlib.util
import json
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from provider_openai.config import EndpointConfig
from provider_openai.models import ModelList
from provider_openai.provider import make_provider
from provider_openai.server import OpenAIServer, chat_chunk, error_reply, sse

from provider_core import create_completion
from provider_core.errors import FallbackWarning, NoProviderAvailable, ProviderError
from provider_core.health import CircuitBreaker, Phase, get_breaker
from provider_core.registry import Registry
from provider_core.testing.server import RecordedRequest, Reply, refused_url

USER = [{"role": "user", "content": "hi"}]
NOW = 1_800_000_000.0


class PerModel(OpenAIServer):
    """Answers model ``busy`` with a 429 (or a broken stream once ``broken`` is set), any
    other model by echoing."""

    broken = False

    def handle(self, request: RecordedRequest) -> Reply:
        body = request.json if isinstance(request.json, dict) else {}
        if body.get("model") == "busy" and request.path.endswith("/chat/completions"):
            if self.broken:
                return Reply(200, body=sse(chat_chunk("half an ans")), headers={"content-type": "text/event-stream"})
            return error_reply(429, "Rate limit reached for busy", "requests", "rate_limit_exceeded")
        return super().handle(request)


@pytest.fixture
def upstream() -> Iterator[PerModel]:
    with PerModel(models=["busy", "calm"]) as server:
        yield server


def endpoint_registry(base_url: str, clock: list[float]) -> tuple[Registry, CircuitBreaker]:
    registry = Registry(load_entry_points=False, builtins=True, environ={})
    registry.register(
        make_provider(
            EndpointConfig(name="proxy", base_url=base_url, source="t"), ModelList({"busy": "b", "calm": "c"}, "t")
        )
    )
    breaker = get_breaker(registry)
    assert breaker is not None
    breaker.clock = lambda: clock[0]
    return registry, breaker


def ask(registry: Registry, model: str) -> str:
    return "".join(create_completion(model, USER, registry=registry))


def test_faults_of_one_model_open_its_circuit_only(upstream):
    clock = [NOW]
    registry, breaker = endpoint_registry(upstream.url, clock)
    for _ in range(2):
        with pytest.raises(ProviderError):
            ask(registry, "busy")
    upstream.broken = True
    with pytest.raises(ProviderError):
        ask(registry, "busy")  # a fault inside its stream counts for the model too
    assert breaker.phase("proxy", "busy") is Phase.OPEN and breaker.phase("proxy") is Phase.CLOSED
    assert ask(registry, "calm") == "hi"  # the endpoint's other model is still routed

    with pytest.raises(NoProviderAvailable) as info:
        ask(registry, "busy")
    assert "proxy: circuit for busy open until" in str(info.value)
    assert 0 < info.value.retry_after <= 60
    plan = registry.router.explain(registry.router.plan("busy"))
    assert plan["skipped"][0]["reason"].startswith("circuit for busy open until")
    described = registry.describe(registry.get("proxy"))
    assert described["working"] is True and list(described["unavailable_models"]) == ["busy"]

    clock[0] += 61  # the cooldown is over: a trial goes through, and its answer closes the circuit
    upstream.broken = False  # it still answers 429: the trial fails and the circuit opens again
    with pytest.raises(ProviderError):
        ask(registry, "busy")
    assert breaker.phase("proxy", "busy") is Phase.OPEN


def test_a_refused_connection_opens_the_whole_endpoint():
    clock = [NOW]
    registry, breaker = endpoint_registry(refused_url() + "/v1", clock)
    for model in ("busy", "calm", "busy"):
        with pytest.raises(ProviderError):
            ask(registry, model)
    assert breaker.phase("proxy") is Phase.OPEN
    for model in ("busy", "calm"):
        with pytest.raises(NoProviderAvailable, match="proxy: circuit open until"):
            ask(registry, model)
    assert registry.describe(registry.get("proxy"))["working"] is False


def test_another_endpoint_takes_over_for_the_open_model(upstream):
    clock = [NOW]
    registry, breaker = endpoint_registry(upstream.url, clock)
    spare = make_provider(
        EndpointConfig(name="spare", base_url=upstream.url, priority=-1, source="t"), ModelList({"busy": "b"}, "t")
    )
    registry.register(spare)
    breaker.failure("proxy", "HTTP 429", model="busy")
    breaker.failure("proxy", "HTTP 429", model="busy")
    breaker.failure("proxy", "HTTP 429", model="busy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        assert [p.name for p in registry.route("busy")] == ["spare"]
        assert [p.name for p in registry.route("calm")] == ["proxy"]


# -- the gateway -------------------------------------------------------------------------------

needs_server = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("starlette", "uvicorn")), reason="needs provider-core[server]"
)


@pytest.fixture
def gateway(upstream) -> Iterator[tuple[str, CircuitBreaker]]:
    from provider_core.gateway.testing import running_gateway

    registry, breaker = endpoint_registry(upstream.url, [time.time()])
    breaker.clock = time.time
    registry.add_alias("any-model", ["busy", "calm"])
    with running_gateway(registry) as served:
        yield served.url, breaker


def _get(url: str) -> tuple[int, dict[str, str], Any]:
    import httpx

    response = httpx.get(url, timeout=30)
    return response.status_code, dict(response.headers), response.json()


def _chat(url: str, model: str) -> tuple[int, dict[str, str], Any]:
    import httpx

    response = httpx.post(f"{url}/v1/chat/completions", json={"model": model, "messages": USER}, timeout=30)
    return response.status_code, dict(response.headers), response.json()


@needs_server
def test_the_gateway_says_when_to_come_back_and_keeps_listing_the_model(gateway):
    url, breaker = gateway
    for _ in range(3):
        breaker.failure("proxy", "HTTP 429", retry_after=30, model="busy")
    status, headers, body = _chat(url, "busy")
    assert status == 503 and 1 <= int(headers["retry-after"]) <= 60  # the cooldown (60 s) outlasts 30
    assert body["error"]["attempts"][0]["retry_after"] <= 60
    assert _chat(url, "calm")[0] == 200
    models = {m["id"]: m for m in _get(f"{url}/v1/models")[2]["data"]}
    assert {"busy", "calm"} <= set(models)  # an open circuit does not make a model vanish
    assert models["any-model"] == {
        "id": "any-model",
        "object": "model",
        "created": 0,
        "owned_by": "alias",
        "targets": ["busy", "calm"],
    }
    status, _, reply = _chat(url, "any-model")  # the alias falls through to the model still routed
    assert status == 200 and reply["choices"][0]["message"]["content"] == "hi"
    providers = _get(f"{url}/v1/providers")[2]["providers"]
    assert providers[0]["unavailable_models"]["busy"].startswith("circuit for busy open until")
    assert json.dumps(providers)  # plain JSON
