"""The plugin inside a registry: with and without a key, no network I/O at registration,
a cheap import, and the live model list (``fetch_model_list``) against the loopback server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import provider_anthropic
import pytest
from provider_anthropic import MODELS
from provider_anthropic.models import fetch_model_list
from provider_anthropic.server import AnthropicServer, error_reply
from pydantic import SecretStr

from provider_core.errors import ProviderConnectionError, ProviderError, ProviderHTTPError
from provider_core.registry import Registry
from provider_core.testing.server import LoopbackServer, Reply, refused_url

KEY = "sk-ant-registration-4242"


def load() -> Registry:
    registry = Registry(load_entry_points=False)
    registry.add_plugin(provider_anthropic, "anthropic")
    return registry


def test_with_a_key_the_provider_is_working(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    registry = load()
    (cls,) = registry.providers()
    assert (cls.name, cls.working, cls.status_reason, cls.url) == ("Anthropic", True, None, "https://api.anthropic.com")
    assert (cls.supports_tools, cls.supports_vision, cls.supports_json, cls.supports_stream) == (True,) * 4
    assert isinstance(cls.api_key, SecretStr) and cls.api_key.get_secret_value() == KEY
    assert list(cls.models) == [m.id for m in MODELS] and cls.default_model == "claude-opus-5-5"
    assert [p.name for p in registry.route("claude-sonnet-5-5", stream=True)] == ["Anthropic"]
    shown = json.dumps(cls.describe()) + repr(cls.api_key) + repr(vars(cls))
    assert KEY not in shown


def test_without_a_key_it_is_registered_not_working_naming_the_variable():
    registry = load()
    (cls,) = registry.providers()
    assert (cls.working, cls.status_reason, cls.api_key) == (False, "ANTHROPIC_API_KEY is not set", None)
    assert registry.providers(working=True) == []


def test_a_bad_base_url_is_a_reason_not_a_crash(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "ftp://example.org")
    (cls,) = load().providers()
    assert cls.working is False and cls.status_reason.startswith("ANTHROPIC_BASE_URL must be an http")


def test_registration_does_no_network_io(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    with LoopbackServer() as watcher:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", watcher.url)
        (cls,) = load().providers()
        assert cls.working and cls.base_url == watcher.url
        assert watcher.connections == 0  # nothing connected to the configured server
    monkeypatch.setenv("ANTHROPIC_BASE_URL", refused_url())
    assert load().providers()[0].working  # a refused port changes nothing either


def test_the_entry_point_registers_the_provider(registry_with_plugins):
    if not os.environ.get("PROVIDER_CORE_EXPECT_INSTALLED"):
        pytest.skip("needs the plugin installed (make test)")
    registry = registry_with_plugins("anthropic")
    assert [p.name for p in registry.providers()] == ["Anthropic"]


def test_importing_the_plugin_loads_neither_requests_nor_pydantic():
    code = (
        "import sys, provider_anthropic, provider_anthropic.server;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'requests', 'pydantic', 'urllib3'}))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# -- fetch_model_list -----------------------------------------------------------------------


def test_fetch_model_list_follows_every_page():
    with AnthropicServer(max_page=3) as server:
        models = fetch_model_list(server.url, SecretStr(KEY), timeout=5)
        pages = [r for r in server.requests if r.path.startswith("/v1/models")]
    assert list(models) == [m.id for m in MODELS]
    assert models["claude-opus-4-7"] == "Claude Opus 4.7"
    assert len(pages) == 4  # 11 models, 3 a page
    assert "after_id=claude-sonnet-5-5" in pages[1].path
    assert all(p.headers["x-api-key"] == KEY and p.headers["anthropic-version"] == "2023-06-01" for p in pages)


def test_fetch_model_list_errors(monkeypatch):
    with AnthropicServer(api_key="right") as server:
        with pytest.raises(ProviderHTTPError) as info:
            fetch_model_list(server.url, "wrong-key-123", timeout=5)
        assert (info.value.status_code, info.value.error_type) == (401, "authentication_error")
    with LoopbackServer() as odd:
        odd.enqueue(Reply(200, body='{"models": "no"}', framing="length"))
        with pytest.raises(ProviderError, match="unexpected model list"):
            fetch_model_list(odd.url, KEY, timeout=5)
        odd.enqueue(error_reply(529, "overloaded_error", "Overloaded", retry_after=3))
        with pytest.raises(ProviderHTTPError) as busy:
            fetch_model_list(odd.url, KEY, timeout=5)
        assert busy.value.retry_after == 3
    with pytest.raises(ProviderConnectionError):
        fetch_model_list(refused_url(), KEY, timeout=5)


def test_fetch_model_list_stops_on_a_server_that_repeats_itself():
    page = {"data": [{"type": "model", "id": "m1", "display_name": "M1"}], "has_more": True, "last_id": "m1"}
    with LoopbackServer(handler=lambda request: Reply(200, body=json.dumps(page), framing="length")) as loop:
        assert fetch_model_list(loop.url, KEY, timeout=5) == {"m1": "M1"}
        assert len(loop.requests) == 2
