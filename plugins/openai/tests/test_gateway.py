"""End to end: this plugin pointed at provider-core's own gateway (`provider-core serve`),
a real uvicorn server on loopback in front of in-process providers. The plugin lists the
gateway's models, streams exact text through it, and reads its errors: an upstream 429
(with Retry-After), a 401 of the gateway's own auth, and a fault in the middle of a stream.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from pydantic import SecretStr

if any(importlib.util.find_spec(m) is None for m in ("starlette", "uvicorn")):
    if os.environ.get("PROVIDER_CORE_EXPECT_INSTALLED"):
        raise ImportError("the gateway end-to-end test needs provider-core[server]")
    pytest.skip("needs provider-core[server] (starlette, uvicorn)", allow_module_level=True)

from provider_openai.config import EndpointConfig
from provider_openai.models import ModelList, fetch_model_ids
from provider_openai.provider import make_provider

from provider_core.errors import ProviderConnectionError, ProviderError, ProviderHTTPError, StreamInterrupted
from provider_core.gateway.config import GatewayConfig
from provider_core.gateway.testing import running_gateway
from provider_core.provider import AbstractProvider
from provider_core.registry import Registry

TEXT = "Привет, 世界 😀👍🏽 — done.\nSecond line ✓"
GATEWAY_KEY = "sk-gateway-e2e-777"
USER = [{"role": "user", "content": "hi"}]


class _Backend(AbstractProvider):
    url = "http://127.0.0.1/in-process"
    working = True
    supports_stream = True


class Poem(_Backend):
    models: ClassVar = {"poem-1": "Poem"}

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        data = TEXT
        for i in range(0, len(data), 3):
            yield data[i : i + 3]


class Busy(_Backend):
    models: ClassVar = {"busy-1": "Busy"}

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        raise ProviderHTTPError(429, provider=cls.name, url="http://127.0.0.1:9/api", retry_after=7.0)
        yield  # pragma: no cover


class Breaks(_Backend):
    models: ClassVar = {"breaks-1": "Breaks"}

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        yield "first part, "
        raise ProviderConnectionError("Breaks: connection reset by peer", provider=cls.name, kind="reset")


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    registry = Registry(load_entry_points=False)
    for cls in (Poem, Busy, Breaks):
        registry.register(cls)
    with running_gateway(registry, GatewayConfig(api_keys=(GATEWAY_KEY,))) as gateway:
        yield gateway.url + "/v1"


def endpoint(url: str, key: str = GATEWAY_KEY) -> EndpointConfig:
    return EndpointConfig(name="gateway", base_url=url, api_key_env="GW_KEY", api_key=SecretStr(key), source="t")


@pytest.fixture
def gateway(gateway_url: str) -> Any:
    ep = endpoint(gateway_url)
    return make_provider(ep, ModelList({m: m for m in fetch_model_ids(ep)}, "cache"))


def test_the_model_list_comes_from_the_gateway(gateway):
    assert (gateway.working, sorted(gateway.models)) == (True, ["breaks-1", "busy-1", "poem-1"])


@pytest.mark.parametrize("stream", [True, False])
def test_text_arrives_exactly_through_the_gateway(gateway, stream):
    assert "".join(c for c in gateway.create_completion("poem-1", USER, stream) if isinstance(c, str)) == TEXT


def test_an_upstream_429_keeps_its_retry_after(gateway):
    with pytest.raises(ProviderHTTPError) as info:
        list(gateway.create_completion("busy-1", USER, True))
    assert info.value.status_code == 429 and info.value.retry_after == 7.0
    assert info.value.error_type  # the gateway's OpenAI-shaped error body was read


def test_a_fault_mid_stream_arrives_as_an_error_event(gateway):
    received = []
    with pytest.raises(StreamInterrupted) as info:
        for chunk in gateway.create_completion("breaks-1", USER, True):
            received.append(chunk)
    assert received == ["first part, "]
    assert "connection reset" in str(info.value)


def test_a_wrong_key_is_the_gateways_401(gateway_url):
    ep = endpoint(gateway_url, key="sk-not-a-gateway-key")
    with pytest.raises(ProviderError) as info:
        fetch_model_ids(ep)
    assert str(info.value).startswith("HTTP 401")
    assert "sk-not-a-gateway-key" not in str(info.value)
