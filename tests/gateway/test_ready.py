"""``GET /readyz``: 200 once the registry is loaded and Redis (when configured) answers a
PING, else 503 with the reason; open without a key and whatever the ``Host``; a slow
registry load answers "loading" instead of holding the probe."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from provider_core.gateway.config import GatewayConfig
from provider_core.testing.server import free_port

KEY = "sk-ready-0123456789"


def probe(server: Any, host: str | None = None) -> httpx.Response:
    headers = {"host": host} if host else {}
    with httpx.Client(timeout=30) as http:
        return http.get(server.url + "/readyz", headers=headers)


def with_redis(helpers: Any, monkeypatch: Any, url: str, **kw: Any) -> Any:
    from provider_core.gateway.app import create_app

    monkeypatch.setenv("PROVIDER_CORE_REDIS_URL", url)
    monkeypatch.setenv("PROVIDER_CORE_REDIS_TIMEOUT", "1")
    app = create_app(helpers.make_registry(), GatewayConfig(**kw))
    monkeypatch.delenv("PROVIDER_CORE_REDIS_URL")
    return helpers.ThreadedServer(app).start()


def test_ready_without_a_key_whatever_the_host(helpers):
    registry = helpers.make_registry()
    with helpers.running(registry, GatewayConfig(api_keys=(KEY,))) as gw:
        response = probe(gw, host="evil.example")
        assert response.status_code == 200 and response.json() == {"status": "ready"}
        with httpx.Client(timeout=30) as http:
            assert http.get(gw.url + "/v1/models").status_code == 401  # the rest still needs the key
    with helpers.running(registry, GatewayConfig()) as keyless:
        assert probe(keyless, host="evil.example").status_code == 200  # no Host check for the probes


def test_a_slow_registry_load_answers_loading_not_a_hung_probe(helpers, monkeypatch):
    from provider_core.gateway import ready

    monkeypatch.setattr(ready, "LOAD_WAIT", 0.05)
    gate = threading.Event()
    registry = helpers.make_registry()
    loads = registry.providers

    def slow_providers(*args: Any, **kwargs: Any) -> Any:  # plugin discovery that takes its time
        assert gate.wait(20)
        return loads(*args, **kwargs)

    monkeypatch.setattr(registry, "providers", slow_providers)
    with helpers.running(registry, GatewayConfig()) as gw:
        first = probe(gw)
        assert first.status_code == 503 and first.json() == {"status": "not ready", "reason": "loading the providers"}
        gate.set()
        monkeypatch.setattr(ready, "LOAD_WAIT", 20)
        assert probe(gw).status_code == 200


def test_redis_configured_must_answer(helpers, monkeypatch, redis_servers):
    server = redis_servers()
    gw = with_redis(helpers, monkeypatch, server.url)
    try:
        assert probe(gw).status_code == 200
        server.kill()
        down = probe(gw)
        assert down.status_code == 503
        assert down.json()["status"] == "not ready" and "did not answer a PING" in down.json()["reason"]
        assert "127.0.0.1" in down.json()["reason"]
        with httpx.Client(timeout=30) as http:  # the gateway itself still serves
            assert http.get(gw.url + "/healthz").status_code == 200
        server.start()
        assert probe(gw).status_code == 200
    finally:
        gw.stop()


@pytest.mark.parametrize("url", ["redis://127.0.0.1:{port}/0", "redis://127.0.0.1:99999/0"])
def test_an_unreachable_or_unusable_redis_is_not_ready(helpers, monkeypatch, url):
    gw = with_redis(helpers, monkeypatch, url.format(port=free_port()))
    try:
        response = probe(gw)
        assert response.status_code == 503
        assert "Redis" in response.json()["reason"] or "REDIS_URL" in response.json()["reason"]
    finally:
        gw.stop()
