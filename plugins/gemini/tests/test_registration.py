"""The plugin in a registry: registration with and without a key, no I/O while
registering, a cheap import, and ``fetch_models`` against the loopback server."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points

import provider_gemini
import pytest
from provider_gemini.listing import fetch_models
from provider_gemini.provider import DEFAULT_BASE_URL, Gemini, configure
from provider_gemini.server import GeminiServer, error_reply, key_invalid_reply
from pydantic import SecretStr

from provider_core.errors import ProviderConnectionError, ProviderError, ProviderHTTPError
from provider_core.registry import Registry
from provider_core.testing.server import LoopbackServer, Reply, refused_url


def registry() -> Registry:
    registry = Registry(load_entry_points=False)
    registry.add_plugin(provider_gemini, "gemini")
    return registry


def test_the_entry_point_is_installed():
    (point,) = [ep for ep in entry_points(group="provider_core") if ep.name == "gemini"]
    assert point.value == "provider_gemini"


def test_with_a_key_the_provider_works(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "secret-gemini-key-1")
    (cls,) = registry().providers()
    assert (cls.name, cls.working, cls.status_reason, cls.needs_auth) == ("Gemini", True, None, True)
    assert (cls.supports_tools, cls.supports_vision, cls.supports_json, cls.supports_stream) == (True,) * 4
    assert cls.default_model in cls.models and "gemini-3.8-flash" in cls.models
    assert isinstance(cls.api_key, SecretStr) and cls.key_source == "GEMINI_API_KEY"
    assert cls.base_url == cls.url == DEFAULT_BASE_URL
    shown = json.dumps(cls.describe()) + repr(cls.api_key) + str(vars(cls))
    assert "secret-gemini-key-1" not in shown


def test_without_a_key_it_is_registered_not_working(monkeypatch):
    (cls,) = registry().providers()
    assert (cls.name, cls.working) == ("Gemini", False)
    assert "GEMINI_API_KEY" in cls.status_reason
    assert cls.models  # the shipped list is there all the same
    reg = registry()
    assert reg.providers(working=True) == []


def test_key_precedence(monkeypatch):
    assert configure({"GOOGLE_API_KEY": "g-key-1234"}).key_source == "GOOGLE_API_KEY"
    both = configure({"GEMINI_API_KEY": "gem-key-1234", "GOOGLE_API_KEY": "g-key-1234"})
    assert both.key_source == "GEMINI_API_KEY" and both.api_key.get_secret_value() == "gem-key-1234"
    assert configure({"GEMINI_API_KEY": "  ", "GOOGLE_API_KEY": "g-key-1234"}).key_source == "GOOGLE_API_KEY"


def test_base_urls():
    assert configure({"GEMINI_BASE_URL": "http://127.0.0.1:9/v1beta/"}).base_url == "http://127.0.0.1:9"
    bad = configure({"GEMINI_API_KEY": "k-12345", "GEMINI_BASE_URL": "127.0.0.1:9"})
    assert bad.working is False and "GEMINI_BASE_URL" in bad.status_reason


def test_registration_does_no_network_io(monkeypatch):
    with LoopbackServer() as server:
        monkeypatch.setenv("GEMINI_API_KEY", "k-12345")
        monkeypatch.setenv("GEMINI_BASE_URL", server.url)
        (cls,) = registry().providers()
        assert cls.working and cls.base_url == server.url
        assert (server.connections, server.requests) == (0, [])
    monkeypatch.setenv("GEMINI_BASE_URL", refused_url())
    (cls,) = registry().providers()  # a refused port changes nothing: nothing is asked
    assert cls.working


def test_importing_the_plugin_is_cheap():
    heavy = ("requests", "pydantic", "urllib3", "json", "provider_gemini.protocol", "provider_gemini.exchange")
    code = f"import sys, provider_gemini; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_the_base_class_is_not_configured():
    assert Gemini.working is False and Gemini.api_key is None


def test_fetch_models_follows_every_page():
    with GeminiServer(models=[f"gemini-test-{i}" for i in range(7)], page_size=3) as server:
        assert fetch_models(server.url, SecretStr("list-key-1"), 5) == [f"gemini-test-{i}" for i in range(7)]
        pages = [r for r in server.requests if r.method == "GET"]
        assert len(pages) == 3
        assert all(r.headers["x-goog-api-key"] == "list-key-1" and "key=" not in r.path for r in pages)
        assert "pageToken=6" in pages[2].path


def test_fetch_models_keeps_generate_content_models_only():
    page = {
        "models": [
            {"name": "models/gemini-3.8-flash", "supportedGenerationMethods": ["generateContent"]},
            {"name": "models/gemini-embedding-001", "supportedGenerationMethods": ["embedContent"]},
        ]
    }
    with LoopbackServer(lambda r: Reply(200, body=json.dumps(page), framing="length")) as server:
        assert fetch_models(server.url + "/", "k-12345") == ["gemini-3.8-flash"]


def test_fetch_models_errors():
    with GeminiServer(api_key="right-key-1") as server:
        with pytest.raises(ProviderHTTPError) as info:
            fetch_models(server.url, "wrong-key-1")
        assert info.value.status_code == 400 and info.value.error_code == "API_KEY_INVALID"
    with LoopbackServer() as server:
        server.enqueue(error_reply(503, "overloaded"), key_invalid_reply(), Reply(200, body="[]", framing="length"))
        with pytest.raises(ProviderHTTPError) as info:
            fetch_models(server.url, "k-12345")
        assert info.value.error_type == "UNAVAILABLE"
        with pytest.raises(ProviderHTTPError):
            fetch_models(server.url, "k-12345")
        with pytest.raises(ProviderError, match="unexpected model list"):
            fetch_models(server.url, "k-12345")
    with pytest.raises(ProviderConnectionError):
        fetch_models(refused_url(), "k-12345")


def test_a_password_in_the_base_url_is_not_shown():
    """The class's ``url`` (shown by ``providers``, the gateway's /v1/providers, and a key of
    the model catalog's cache file) has no user name or password; requests still use the
    configured ``base_url`` as it is."""
    cls = configure({"GEMINI_API_KEY": "k", "GEMINI_BASE_URL": "https://bob:hunter2secret@gem.example/v1beta"})
    assert cls.url == "https://gem.example"
    assert cls.base_url == "https://bob:hunter2secret@gem.example"
    registry = Registry(load_entry_points=False)
    registry.register(cls)
    assert "hunter2secret" not in json.dumps(registry.describe(cls))
