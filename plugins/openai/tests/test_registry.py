"""The plugin inside a registry: endpoints from the environment and the file, endpoints
that cannot list their models, and configuration problems shown as the plugin's errors."""

from __future__ import annotations

import json
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
    assert (info.errors, info.providers) == ([], [])


def test_zero_config_endpoint_serves_the_listed_models(monkeypatch, openai_server: OpenAIServer):
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.url)
    registry = load()
    (cls,) = registry.providers()
    assert (cls.name, cls.working, cls.supports_gpt_4, list(cls.models)) == (
        "openai",
        True,
        True,
        ["demo", "gpt-4o-mini"],
    )
    assert registry.models() == {"demo": ["openai"], "gpt-4o-mini": ["openai"]}
    assert [p.name for p in registry.route("demo", stream=True)] == ["openai"]


def test_an_unreachable_endpoint_is_listed_not_working_with_the_reason(monkeypatch):
    url = refused_url() + "/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    registry = load()
    (cls,) = registry.providers()
    assert (cls.name, cls.working, dict(cls.models)) == ("openai", False, {})
    assert cls.status_reason == f"model list unavailable: connection refused ({url}/models)"
    assert registry.providers(working=True) == []
    assert registry.plugins()[0].providers == ["openai"]
    with pytest.raises(ModelNotSupported):
        registry.route("demo")


def test_with_a_stale_list_routing_says_why_it_skips_the_endpoint(monkeypatch, write_config, openai_server):
    path = write_config(f'[openai.endpoints.local]\nbase_url = "{openai_server.url}"\nmodels_ttl = 1\n')
    assert load().get("local").working  # fetched and cached
    url = refused_url() + "/v1"
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "provider-core" / "openai-models.json"
    entries = json.loads(cache.read_text())["entries"]
    cache.write_text(json.dumps({"version": 1, "entries": {f"local {url}": entries[f"local {openai_server.url}"]}}))
    path.write_text(f'[openai.endpoints.local]\nbase_url = "{url}"\nmodels_ttl = 0\n')
    registry = load()
    cls = registry.get("local")
    assert (cls.working, list(cls.models)) == (False, ["demo", "gpt-4o-mini"])
    plan = registry.router.plan("demo")
    assert plan.candidates == ()
    (skipped,) = plan.skipped
    assert "model list unavailable: connection refused" in skipped.reason
    assert "showing the list cached" in skipped.reason


def test_a_missing_key_variable_marks_the_endpoint_not_working(write_config, openai_server):
    write_config(
        f'[openai.endpoints.router]\nbase_url = "{openai_server.url}"\napi_key_env = "OPENROUTER_API_KEY"\n'
        'models = ["openai/gpt-4o"]\n'
    )
    cls = load().get("router")
    assert (cls.working, cls.needs_auth, list(cls.models)) == (False, True, ["openai/gpt-4o"])
    assert cls.status_reason == "API key variable OPENROUTER_API_KEY is not set"
    assert openai_server.requests == []


def test_config_problems_are_the_plugins_errors_and_the_rest_still_loads(write_config, openai_server):
    path = write_config(
        f'[openai.endpoints.good]\nbase_url = "{openai_server.url}"\npriority = 2\n'
        '[openai.endpoints.bad]\nbase_url = "http://127.0.0.1:1/v1"\npriority = "high"\napi_key = "sk-leak"\n'
    )
    registry = load()
    assert [p.name for p in registry.providers()] == ["good"]
    (info,) = registry.plugins()
    assert info.status == "failed" and info.providers == ["good"]
    (error,) = info.errors
    assert f"{path}: openai.endpoints.bad.api_key: keys are never stored in the config file" in error
    assert "OpenAIConfigError" in error and "sk-leak" not in error
    assert registry.failed_plugins() == [info]


def test_several_endpoints_route_by_priority(write_config, openai_server):
    with OpenAIServer(models=["demo"]) as other:
        write_config(
            f'[openai.endpoints.low]\nbase_url = "{openai_server.url}"\n'
            f'[openai.endpoints.high]\nbase_url = "{other.url}"\npriority = 10\n'
        )
        registry = load()
        assert [p.name for p in registry.route("demo")] == ["high", "low"]
        assert [p.name for p in registry.route("gpt-4o-mini")] == ["low"]


def test_without_configuration_the_plugin_imports_neither_pydantic_nor_requests(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PROVIDER_CORE_"))}
    code = (
        "import sys, provider_openai;"
        "print(provider_openai.load_providers(), 'pydantic' in sys.modules, 'requests' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["([],", "[])", "False", "False"]
