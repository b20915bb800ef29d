"""Model lists: from the config, the cache (with its TTL), or one bounded GET /models."""

from __future__ import annotations

import json
import time
from pathlib import Path

from provider_openai.config import EndpointConfig
from provider_openai.models import ModelCache, resolve_models
from provider_openai.server import OpenAIServer, error_reply

from provider_core.testing.server import LoopbackServer, Reply, refused_url


def endpoint(base_url: str, **settings) -> EndpointConfig:
    return EndpointConfig(name=settings.pop("name", "ep"), base_url=base_url, source="test", **settings)


def test_configured_models_need_no_request(tmp_path: Path, openai_server: OpenAIServer):
    ep = endpoint(openai_server.url, models={"a": "A"})
    (result,) = resolve_models([ep], ModelCache(tmp_path / "c.json")).values()
    assert (dict(result.models), result.source, result.problem) == ({"a": "A"}, "config", None)
    assert openai_server.requests == []


def test_fetched_list_is_cached_for_its_ttl(tmp_path: Path, openai_server: OpenAIServer):
    now = [1000.0]
    cache = ModelCache(tmp_path / "c.json", clock=lambda: now[0])
    ep = endpoint(openai_server.url, models_ttl=60)
    first = resolve_models([ep], cache)["ep"]
    assert (list(first.models), first.source, first.problem) == (["demo", "gpt-4o-mini"], "fetched", None)
    assert [r.path for r in openai_server.requests] == ["/v1/models"]
    now[0] += 59
    assert resolve_models([ep], cache)["ep"].source == "cache"
    assert len(openai_server.requests) == 1
    now[0] += 2
    openai_server.models.append("new-model")
    again = resolve_models([ep], cache)["ep"]
    assert (again.source, list(again.models)) == ("fetched", ["demo", "gpt-4o-mini", "new-model"])
    assert len(openai_server.requests) == 2
    stored = json.loads((tmp_path / "c.json").read_text())
    assert stored["entries"][f"ep {openai_server.url}"]["models"] == ["demo", "gpt-4o-mini", "new-model"]


def test_a_loopback_endpoint_is_asked_every_time_by_default(tmp_path: Path, openai_server: OpenAIServer):
    cache = ModelCache(tmp_path / "c.json")
    ep = endpoint(openai_server.url)
    assert ep.ttl == 0
    resolve_models([ep], cache)
    resolve_models([ep], cache)
    assert len(openai_server.requests) == 2


def test_the_list_request_carries_the_key_and_headers(tmp_path: Path):
    from pydantic import SecretStr

    with OpenAIServer(api_key="sk-test") as server:
        ep = endpoint(server.url, api_key_env="K", api_key=SecretStr("sk-test"), headers={"X-Title": "t"})
        result = resolve_models([ep], ModelCache(tmp_path / "c.json"))["ep"]
        assert result.problem is None
        (request,) = server.requests
        assert request.headers["authorization"] == "Bearer sk-test"
        assert request.headers["x-title"] == "t"


def test_refused_connection_keeps_the_endpoint_with_the_reason(tmp_path: Path):
    url = refused_url() + "/v1"
    result = resolve_models([endpoint(url)], ModelCache(tmp_path / "c.json"))["ep"]
    assert dict(result.models) == {}
    assert result.source == "none"
    assert result.problem == f"model list unavailable: connection refused ({url}/models)"


def test_a_failed_fetch_falls_back_to_the_stale_list_and_says_so(tmp_path: Path, openai_server: OpenAIServer):
    now = [1000.0]
    cache = ModelCache(tmp_path / "c.json", clock=lambda: now[0])
    ep = endpoint(openai_server.url, models_ttl=10)
    resolve_models([ep], cache)
    openai_server.models_reply = error_reply(401, "Incorrect API key provided.", code="invalid_api_key")
    now[0] += 300
    result = resolve_models([ep], cache)["ep"]
    assert list(result.models) == ["demo", "gpt-4o-mini"]
    assert result.source == "stale cache"
    assert result.problem.startswith("model list unavailable: HTTP 401 Unauthorized from ep")
    assert "[invalid_request_error] Incorrect API key provided." in result.problem
    assert result.problem.endswith("(showing the list cached 5 min ago)")


def test_a_missing_key_is_not_fetched(tmp_path: Path, openai_server: OpenAIServer):
    ep = endpoint(openai_server.url, api_key_env="NOT_SET_ANYWHERE")
    result = resolve_models([ep], ModelCache(tmp_path / "c.json"))["ep"]
    assert result.problem == "API key variable NOT_SET_ANYWHERE is not set"
    assert openai_server.requests == []


def test_a_404_hints_at_the_missing_version_prefix(tmp_path: Path, openai_server: OpenAIServer):
    base = openai_server.url.removesuffix("/v1")
    result = resolve_models([endpoint(base)], ModelCache(tmp_path / "c.json"))["ep"]
    assert "HTTP 404" in result.problem and "does base_url need its version prefix, e.g. /v1?" in result.problem


def test_odd_replies_are_explained(tmp_path: Path):
    with LoopbackServer() as server:
        server.enqueue(Reply(200, body="<html>hi</html>", framing="length"))
        server.enqueue(Reply(200, body='{"data": []}', framing="length"))
        server.enqueue(Reply(200, body='{"object": "list"}', framing="length"))
        cache = ModelCache(tmp_path / "c.json")
        problems = [resolve_models([endpoint(server.url)], cache)["ep"].problem for _ in range(3)]
    assert "is not JSON: <html>hi</html>" in problems[0]
    assert problems[1] == "model list unavailable: the endpoint lists no models"
    assert problems[2] == "model list unavailable: the reply has no list of models ('data')"


def test_the_wait_is_bounded_and_fetches_run_in_parallel(tmp_path: Path):
    """Two endpoints that never answer cost one models_timeout together, not two."""
    with LoopbackServer() as slow:
        slow.handler = lambda request: Reply(200, body="{}", delay_before=30)
        eps = [endpoint(slow.url, name=f"slow{i}", models_timeout=1.0) for i in range(2)]
        started = time.monotonic()
        results = resolve_models(eps, ModelCache(tmp_path / "c.json"))
        elapsed = time.monotonic() - started
    assert elapsed < 20  # generous: the bound is ~1.5 s; serial 30 s waits would blow it
    for result in results.values():
        assert result.problem.startswith("model list unavailable: ")
        assert "timed out" in result.problem or "no answer within 1s" in result.problem


def test_an_unreadable_cache_is_ignored(tmp_path: Path, openai_server: OpenAIServer):
    path = tmp_path / "c.json"
    path.write_text("{not json")
    ep = endpoint(openai_server.url, models_ttl=100)
    assert resolve_models([ep], ModelCache(path))["ep"].source == "fetched"
    path.write_text(json.dumps({"version": 1, "entries": {f"ep {openai_server.url}": {"models": [1]}}}))
    assert resolve_models([ep], ModelCache(path))["ep"].source == "fetched"
    assert resolve_models([ep], ModelCache(path))["ep"].source == "cache"
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    assert resolve_models([ep], ModelCache(blocked / "c.json"))["ep"].source == "fetched"  # cannot write: fine
