"""The live model list through provider-core's model catalog, in one process: a refresh
(the plugin's ``fetch_models`` hook, every page) fills the cache and the provider then
serves the shipped models plus the new ids, read from the cache with no request; without
a key (or with an unusable base URL) nothing is fetched; a failed refresh is the list's
problem (a warning of the plugin, the last list kept, the provider still working).
Against the loopback Anthropic server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import provider_anthropic
import pytest
from provider_anthropic import MODELS
from provider_anthropic.models import model_info
from provider_anthropic.server import AnthropicServer, error_reply

from provider_core.catalog import RefreshResult
from provider_core.registry import Registry
from provider_core.testing.server import refused_url

KEY = "sk-ant-catalog-SECRET-7788"
SHIPPED = [m.id for m in MODELS]
NEW = "claude-newer-9"


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own model catalog cache."""
    monkeypatch.setenv("PROVIDER_CORE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[AnthropicServer]:
    """The loopback server listing the shipped models and one more, 5 a page; the
    environment points the plugin at it with its key."""
    with AnthropicServer([*SHIPPED, NEW], api_key=KEY, max_page=5) as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        yield server


def load() -> Registry:
    registry = Registry(load_entry_points=False)
    registry.add_plugin(provider_anthropic, "anthropic")
    return registry


def listings(server: AnthropicServer) -> int:
    return sum(1 for r in server.requests if r.path.startswith("/v1/models"))


def test_a_refresh_fills_the_cache_and_registration_serves_the_new_ids(upstream):
    registry = load()
    assert NEW not in registry.get("Anthropic").models and upstream.requests == []
    assert registry.catalog.refresh(["anthropic"]) == [RefreshResult("Anthropic", "updated", 12)]
    assert listings(upstream) == 3  # 12 models, 5 a page
    assert all(r.headers["x-api-key"] == KEY for r in upstream.requests)
    served = registry.get("Anthropic")
    assert list(served.models) == [*SHIPPED, NEW] and served.models["claude-opus-5-5"] == "Claude Opus 5.5"
    assert served.working and [p.name for p in registry.route(NEW, stream=True)] == ["Anthropic"]
    assert model_info(NEW).sampling is False  # an unlisted id gets the current generation's rules
    again = load()  # another process: the cache, no request
    assert list(again.get("Anthropic").models) == [*SHIPPED, NEW] and listings(upstream) == 3
    assert again.plugins()[-1].warnings == []
    assert registry.catalog.refresh() == [RefreshResult("Anthropic", "unchanged", 12)]


def test_without_a_key_nothing_is_fetched(upstream, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    registry = load()
    assert registry.catalog.refresh() == [RefreshResult("Anthropic", "static", len(SHIPPED))]
    assert upstream.requests == []
    provider = registry.get("Anthropic")
    assert (provider.working, provider.status_reason) == (False, "ANTHROPIC_API_KEY is not set")
    assert list(provider.models) == SHIPPED


def test_a_failed_refresh_is_the_lists_problem_and_the_last_list_is_kept(upstream):
    registry = load()
    upstream.models_reply = error_reply(529, "overloaded_error", "Overloaded")
    (failed,) = registry.catalog.refresh()
    expected = f"HTTP 529 from Anthropic ({upstream.url}/v1/models): [overloaded_error] Overloaded"
    assert (failed.status, failed.models, failed.error) == ("failed", 0, expected)
    (info,) = registry.plugins()
    assert (info.label, info.warnings) == ("explicit (1 warning)", [f"model list unavailable: {expected}"])
    assert registry.get("Anthropic").working, "the shipped models still work"
    upstream.models_reply = None
    assert registry.catalog.refresh()[0].status == "updated" and registry.plugins()[0].warnings == []
    upstream.models_reply = error_reply(529, "overloaded_error", "Overloaded")
    assert registry.catalog.refresh()[0] == RefreshResult("Anthropic", "failed", 12, expected)
    (warning,) = registry.plugins()[0].warnings
    assert warning.startswith(f"model list unavailable: {expected} (showing the list fetched ")
    provider = registry.get("Anthropic")
    assert provider.working and NEW in provider.models


def test_an_unreachable_base_url_fails_the_refresh_and_an_unusable_one_fetches_nothing(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    url = refused_url()
    monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
    registry = load()
    assert registry.get("Anthropic").working  # registration sent nothing
    (result,) = registry.catalog.refresh()
    assert (result.status, result.error) == ("failed", f"Anthropic: connection refused ({url}/v1/models)")
    assert KEY not in repr(registry.catalog.cache.entries())
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "ftp://example.org")
    misconfigured = load()
    assert misconfigured.catalog.refresh() == [RefreshResult("Anthropic", "static", len(SHIPPED))]
    assert misconfigured.get("Anthropic").status_reason.startswith("ANTHROPIC_BASE_URL must be an http")
