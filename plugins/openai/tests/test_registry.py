"""The plugin inside a registry: endpoints from the environment and the file, their live
model lists (from the catalog's cache, never fetched while registering), endpoints that
cannot list their models, and configuration problems shown as the plugin's warnings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import provider_openai
import pytest
from provider_openai.server import OpenAIServer

from provider_core.errors import ModelNotSupported
from provider_core.registry import Registry
from provider_core.testing.server import refused_url


def load() -> Registry:
    registry = Registry(load_entry_points=False)
    registry.add_plugin(provider_openai, "openai")
    return registry


def test_nothing_configured_registers_nothing():
    registry = load()
    assert registry.providers() == []
    (info,) = registry.plugins()
    assert (info.errors, info.warnings, info.providers) == ([], [], [])


def test_registering_sends_nothing_and_a_refresh_brings_the_models(monkeypatch, openai_server: OpenAIServer):
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.url)
    registry = load()
    (cls,) = registry.providers()
    assert (cls.name, cls.working, dict(cls.models)) == ("openai", False, {})
    assert cls.status_reason == "model list not fetched yet ('provider-core refresh openai' fetches it)"
    assert openai_server.requests == []

    (result,) = registry.catalog.refresh()
    assert (result.provider, result.status, result.models) == ("openai", "updated", 2)
    (cls,) = registry.providers()  # the plugin registered again, from the cache
    assert (cls.working, cls.supports_gpt_4, list(cls.models)) == (True, True, ["demo", "gpt-4o-mini"])
    assert registry.models() == {"demo": ["openai"], "gpt-4o-mini": ["openai"]}
    assert [p.name for p in registry.route("demo", stream=True)] == ["openai"]
    assert [r.path for r in openai_server.requests] == ["/v1/models"]

    assert list(load().get("openai").models) == ["demo", "gpt-4o-mini"]  # the next process reads the cache
    assert len(openai_server.requests) == 1


def test_an_unreachable_endpoint_is_listed_not_working_with_the_reason(monkeypatch):
    url = refused_url() + "/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    registry = load()
    (result,) = registry.catalog.refresh()
    assert (result.status, result.error) == ("failed", f"connection refused ({url}/models)")
    (cls,) = registry.providers()
    assert (cls.name, cls.working, dict(cls.models)) == ("openai", False, {})
    assert cls.status_reason == f"model list unavailable: connection refused ({url}/models)"
    assert registry.providers(working=True) == []
    assert registry.plugins()[0].providers == ["openai"]
    with pytest.raises(ModelNotSupported):
        registry.route("demo")


def test_with_a_stale_list_routing_says_why_it_skips_the_endpoint(write_config):
    with OpenAIServer(models=["demo", "gpt-4o-mini"]) as server:
        write_config(f'[openai.endpoints.local]\nbase_url = "{server.url}"\n')
        registry = load()
        registry.catalog.refresh()
        assert registry.get("local").working
    (result,) = registry.catalog.refresh()  # the server is gone now
    assert result.status == "failed" and result.models == 2
    cls = registry.get("local")
    assert (cls.working, list(cls.models)) == (False, ["demo", "gpt-4o-mini"])
    plan = registry.router.plan("demo")
    assert plan.candidates == ()
    (skipped,) = plan.skipped
    assert "model list unavailable: connection refused" in skipped.reason
    assert "showing the list fetched" in skipped.reason


def test_a_missing_key_variable_marks_the_endpoint_not_working(write_config, openai_server):
    write_config(
        f'[openai.endpoints.router]\nbase_url = "{openai_server.url}"\napi_key_env = "OPENROUTER_API_KEY"\n'
        'models = ["openai/gpt-4o"]\n'
    )
    cls = load().get("router")
    assert (cls.working, cls.needs_auth, list(cls.models)) == (False, True, ["openai/gpt-4o"])
    assert cls.status_reason == "API key variable OPENROUTER_API_KEY is not set"
    assert openai_server.requests == []


def test_a_bad_endpoint_among_good_ones_is_a_warning_not_a_failure(write_config, openai_server):
    path = write_config(
        f'[openai.endpoints.good]\nbase_url = "{openai_server.url}"\npriority = 2\nmodels = ["demo"]\n'
        '[openai.endpoints.bad]\nbase_url = "http://127.0.0.1:1/v1"\npriority = "high"\napi_key = "sk-leak"\n'
    )
    registry = load()
    assert [p.name for p in registry.providers()] == ["good"]
    (info,) = registry.plugins()
    assert (info.status, info.label, info.providers, info.errors) == ("explicit", "explicit (1 warning)", ["good"], [])
    (warning,) = info.warnings
    assert warning.startswith(f"{path}: openai.endpoints.bad.api_key: keys are never stored in the config file")
    assert "sk-leak" not in warning
    assert registry.failed_plugins() == []


def test_a_configuration_that_loads_nothing_fails_the_plugin(write_config):
    path = write_config('[openai.endpoints.bad]\nbase_url = "ftp://nowhere"\n')
    (info,) = load().plugins()
    assert info.status == "failed" and info.providers == []
    (error,) = info.errors
    assert error.startswith("register_providers raised OpenAIConfigError: 1 configuration problem: ")
    assert f"{path}: openai.endpoints.bad.base_url: must be an http:// or https:// URL" in error


def test_several_endpoints_route_by_priority(write_config, openai_server):
    with OpenAIServer(models=["demo"]) as other:
        write_config(
            f'[openai.endpoints.low]\nbase_url = "{openai_server.url}"\n'
            f'[openai.endpoints.high]\nbase_url = "{other.url}"\npriority = 10\n'
        )
        registry = load()
        registry.catalog.refresh()
        assert [p.name for p in registry.route("demo")] == ["high", "low"]
        assert [p.name for p in registry.route("gpt-4o-mini")] == ["low"]


def _imports_after_loading(tmp_path: Path, env: dict[str, str]) -> list[str]:
    code = (
        "import sys, provider_openai;"
        "classes, problems = provider_openai.load_providers();"
        "print(len(classes), len(problems), 'pydantic' in sys.modules, 'requests' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_without_configuration_the_plugin_imports_neither_pydantic_nor_requests(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PROVIDER_CORE_"))}
    assert _imports_after_loading(tmp_path, env) == ["0", "0", "False", "False"]


def test_reading_a_configuration_imports_neither_pydantic_nor_requests(tmp_path: Path):
    """Keys included: a key becomes a pydantic SecretStr when first read, at the first request."""
    config = tmp_path / "config.toml"
    config.write_text(
        '[openai.endpoints.a]\nbase_url = "http://127.0.0.1:9/v1"\nmodels = ["m"]\napi_key_env = "A_KEY"\n'
        '[openai.endpoints.b]\nbase_url = "https://api.example/v1"\ntimeout = [5, 60]\nheaders = { X-T = "t" }\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PROVIDER_CORE_"))}
    env.update(PROVIDER_CORE_CONFIG=str(config), A_KEY="sk-a-0123456789", OPENAI_API_KEY="sk-b-0123456789")
    assert _imports_after_loading(tmp_path, env) == ["3", "0", "False", "False"]
