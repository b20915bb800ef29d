"""Model lists: from the config, or the live list the model catalog fetched into its cache
(read at registration, never fetched there), and the fetch itself, GET /models."""

from __future__ import annotations

import json
import threading
import time

import provider_openai
import pytest
from provider_openai.config import EndpointConfig
from provider_openai.models import fetch_model_ids, model_list
from provider_openai.server import OpenAIServer, error_reply

from provider_core.errors import ProviderError
from provider_core.modelcache import ModelEntry, default_cache, entry_key
from provider_core.registry import Registry
from provider_core.testing.server import LoopbackServer, Reply, refused_url


def endpoint(base_url: str, **settings) -> EndpointConfig:
    return EndpointConfig(name=settings.pop("name", "ep"), base_url=base_url, source="test", **settings)


def cache_entry(ep: EndpointConfig, models=(), *, age: float = 0.0, error: str | None = None) -> None:
    now = time.time()
    fetched = now - age if models else None
    default_cache().update({entry_key(ep.name, ep.display_url): ModelEntry(tuple(models), fetched, error, now)})


def test_configured_models_need_no_request(openai_server: OpenAIServer):
    result = model_list(endpoint(openai_server.url, models={"a": "A"}))
    assert (dict(result.models), result.source, result.problem) == ({"a": "A"}, "config", None)
    assert openai_server.requests == []


def test_registration_reads_the_cache_and_sends_nothing(openai_server: OpenAIServer):
    ep = endpoint(openai_server.url)
    never = model_list(ep)
    assert (dict(never.models), never.source) == ({}, "none")
    assert never.problem == "model list not fetched yet ('provider-core refresh ep' fetches it)"
    cache_entry(ep, ["demo", "gpt-4o-mini"])
    fresh = model_list(ep)
    assert (list(fresh.models), fresh.source, fresh.problem) == (["demo", "gpt-4o-mini"], "cache", None)
    assert openai_server.requests == []


def test_a_failed_refresh_keeps_the_last_list_and_says_so(openai_server: OpenAIServer):
    ep = endpoint(openai_server.url)
    cache_entry(ep, ["demo"], age=300, error="connection refused (http://127.0.0.1:9/v1/models)")
    result = model_list(ep)
    assert (list(result.models), result.source) == (["demo"], "stale cache")
    assert result.problem == (
        "model list unavailable: connection refused (http://127.0.0.1:9/v1/models) (showing the list fetched 5 min ago)"
    )


def test_the_list_request_carries_the_key_and_headers():
    from pydantic import SecretStr

    with OpenAIServer(api_key="sk-test") as server:
        ep = endpoint(server.url, api_key_env="K", api_key=SecretStr("sk-test"), headers={"X-Title": "t"})
        assert fetch_model_ids(ep) == ["demo"]
        (request,) = server.requests
        assert request.path == "/v1/models"
        assert request.headers["authorization"] == "Bearer sk-test"
        assert request.headers["x-title"] == "t"


def fetch_error(ep: EndpointConfig) -> str:
    with pytest.raises(ProviderError) as info:
        fetch_model_ids(ep)
    return str(info.value)


def test_refused_connection_is_said_in_a_few_words():
    url = refused_url() + "/v1"
    assert fetch_error(endpoint(url)) == f"connection refused ({url}/models)"


def test_an_http_error_keeps_the_upstream_message(openai_server: OpenAIServer):
    openai_server.models_reply = error_reply(401, "Incorrect API key provided.", code="invalid_api_key")
    text = fetch_error(endpoint(openai_server.url))
    assert text.startswith("HTTP 401 Unauthorized from ep")
    assert "[invalid_request_error] Incorrect API key provided." in text


def test_a_missing_key_is_not_fetched(openai_server: OpenAIServer):
    ep = endpoint(openai_server.url, api_key_env="NOT_SET_ANYWHERE")
    assert fetch_error(ep) == "API key variable NOT_SET_ANYWHERE is not set"
    assert model_list(ep).problem == "API key variable NOT_SET_ANYWHERE is not set"
    assert openai_server.requests == []


def test_a_404_hints_at_the_missing_version_prefix(openai_server: OpenAIServer):
    text = fetch_error(endpoint(openai_server.url.removesuffix("/v1")))
    assert "HTTP 404" in text and "does base_url need its version prefix, e.g. /v1?" in text


def test_odd_replies_are_explained():
    with LoopbackServer() as server:
        server.enqueue(Reply(200, body="<html>hi</html>", framing="length"))
        server.enqueue(Reply(200, body='{"data": []}', framing="length"))
        server.enqueue(Reply(200, body='{"object": "list"}', framing="length"))
        problems = [fetch_error(endpoint(server.url)) for _ in range(3)]
    assert "is not JSON: <html>hi</html>" in problems[0]
    assert problems[1] == "the endpoint lists no models"
    assert problems[2] == "the reply has no list of models ('data')"


def test_the_hooks_fetch_only_unlisted_endpoints_and_say_how_long_lists_stay_fresh(write_config, openai_server):
    write_config(
        f'[openai.endpoints.live]\nbase_url = "{openai_server.url}"\n'
        f'[openai.endpoints.fixed]\nbase_url = "{openai_server.url}"\nmodels = ["m"]\n'
        '[openai.endpoints.remote]\nbase_url = "https://api.example/v1"\nmodels = ["r"]\n'
        '[openai.endpoints.tuned]\nbase_url = "https://api.example/v1"\nmodels_ttl = 42\n'
    )
    registry = Registry(load_entry_points=False)
    registry.add_plugin(provider_openai, "openai")
    live, fixed, remote, tuned = (registry.get(n) for n in ("live", "fixed", "remote", "tuned"))
    assert provider_openai.fetch_models(provider=live) == ["demo", "gpt-4o-mini"]
    assert provider_openai.fetch_models(provider=fixed) is None
    assert provider_openai.fetch_models(provider=type("Other", (), {})) is None
    ages = [provider_openai.models_max_age(provider=p) for p in (live, remote, tuned)]
    assert ages == [0.0, 3600.0, 42.0]  # loopback: always stale; remote: an hour; models_ttl wins
    assert [r.path for r in openai_server.requests] == ["/v1/models"]


def test_a_fetch_is_bounded_by_the_endpoints_models_timeout(write_config):
    """An endpoint that never answers fails with its own read timeout (models_timeout),
    long before the catalog would stop waiting (30 s)."""
    with LoopbackServer() as silent:
        silent.handler = lambda request: Reply(200, body="{}", delay_before=60)
        write_config(f'[openai.endpoints.silent]\nbase_url = "{silent.url}"\nmodels_timeout = 0.5\n')
        registry = Registry(load_entry_points=False)
        registry.add_plugin(provider_openai, "openai")
        (result,) = registry.catalog.refresh()
    assert result.status == "failed"
    assert "timed out" in result.error and "no answer within" not in result.error


def test_endpoints_are_fetched_in_parallel(write_config):
    """Each GET /models is held until both have arrived (a gate, not a clock): fetched one
    after the other, the first would time out at the gate."""
    both = threading.Barrier(2)

    def handler(request):
        try:
            both.wait(timeout=10)
        except threading.BrokenBarrierError:
            return Reply(503, body="only one request arrived")
        return Reply(200, body=json.dumps({"object": "list", "data": [{"id": "m"}]}), framing="length")

    with LoopbackServer() as server:
        server.handler = handler
        write_config("".join(f'[openai.endpoints.ep{i}]\nbase_url = "{server.url}"\n' for i in range(2)))
        registry = Registry(load_entry_points=False)
        registry.add_plugin(provider_openai, "openai")
        results = registry.catalog.refresh()
    assert [(r.provider, r.status, r.models) for r in results] == [("ep0", "updated", 1), ("ep1", "updated", 1)]
    assert [p.name for p in registry.route("m")] == ["ep0", "ep1"]
