"""The live model list through provider-core's model catalog, in one process: a refresh
(the plugin's ``fetch_models`` hook, every page, with ``GEMINI_API_KEY`` or
``GOOGLE_API_KEY``) fills the cache and the provider then serves the shipped models plus
the new ids, read from the cache with no request; without a key (or with an unusable base
URL) nothing is fetched; a failed refresh is the list's problem (a warning of the plugin,
the last list kept, the provider still working). Against the loopback Gemini server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import provider_gemini
import pytest
from provider_gemini.catalog import MODELS
from provider_gemini.server import GeminiServer, error_reply

from provider_core.catalog import RefreshResult
from provider_core.registry import Registry
from provider_core.testing.server import refused_url

KEY = "gemini-catalog-SECRET-5511"
SHIPPED = [m.id for m in MODELS]
NEW = "gemini-9.9-flash"


@pytest.fixture(autouse=True)
def private_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This test's own model catalog cache, and no Gemini variable from the machine."""
    monkeypatch.setenv("PROVIDER_CORE_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[GeminiServer]:
    """The loopback server listing the shipped models and one more, 4 a page; the
    environment points the plugin at it with its key (the fallback variable)."""
    with GeminiServer([*SHIPPED, NEW], api_key=KEY, page_size=4) as server:
        monkeypatch.setenv("GOOGLE_API_KEY", KEY)
        monkeypatch.setenv("GEMINI_BASE_URL", server.url)
        yield server


def load() -> Registry:
    registry = Registry(load_entry_points=False)
    registry.add_plugin(provider_gemini, "gemini")
    return registry


def listings(server: GeminiServer) -> int:
    return sum(1 for r in server.requests if r.method == "GET")


def test_a_refresh_fills_the_cache_and_registration_serves_the_new_ids(upstream):
    registry = load()
    assert NEW not in registry.get("Gemini").models and upstream.requests == []
    assert registry.catalog.refresh(["gemini"]) == [RefreshResult("Gemini", "updated", 10)]
    assert listings(upstream) == 3  # 10 models, 4 a page
    assert all(r.headers["x-goog-api-key"] == KEY for r in upstream.requests)
    served = registry.get("Gemini")
    assert list(served.models) == [*SHIPPED, NEW] and served.models["gemini-3.8-flash"] == "Gemini 3.8 Flash"
    assert served.working and [p.name for p in registry.route(NEW, stream=True)] == ["Gemini"]
    again = load()  # another process: the cache, no request
    assert list(again.get("Gemini").models) == [*SHIPPED, NEW] and listings(upstream) == 3
    assert again.plugins()[-1].warnings == []
    assert registry.catalog.refresh() == [RefreshResult("Gemini", "unchanged", 10)]


def test_without_a_key_nothing_is_fetched(upstream, monkeypatch):
    monkeypatch.delenv("GOOGLE_API_KEY")
    registry = load()
    assert registry.catalog.refresh() == [RefreshResult("Gemini", "static", len(SHIPPED))]
    assert upstream.requests == []
    provider = registry.get("Gemini")
    assert provider.working is False and "GEMINI_API_KEY" in provider.status_reason
    assert list(provider.models) == SHIPPED


def test_a_failed_refresh_is_the_lists_problem_and_the_last_list_is_kept(upstream):
    registry = load()
    upstream.models_reply = error_reply(503, "The service is starting.")
    (failed,) = registry.catalog.refresh()
    expected = (
        f"HTTP 503 Service Unavailable from Gemini ({upstream.url}/v1beta/models): "
        "[UNAVAILABLE] The service is starting."
    )
    assert (failed.status, failed.models, failed.error) == ("failed", 0, expected)
    (info,) = registry.plugins()
    assert (info.label, info.warnings) == ("explicit (1 warning)", [f"model list unavailable: {expected}"])
    assert registry.get("Gemini").working, "the shipped models still work"
    upstream.models_reply = None
    assert registry.catalog.refresh()[0].status == "updated" and registry.plugins()[0].warnings == []
    upstream.models_reply = error_reply(503, "The service is starting.")
    assert registry.catalog.refresh()[0] == RefreshResult("Gemini", "failed", 10, expected)
    (warning,) = registry.plugins()[0].warnings
    assert warning.startswith(f"model list unavailable: {expected} (showing the list fetched ")
    provider = registry.get("Gemini")
    assert provider.working and NEW in provider.models


def test_a_wrong_key_or_an_unreachable_base_url_fails_the_refresh_an_unusable_one_fetches_nothing(
    upstream, monkeypatch
):
    monkeypatch.setenv("GEMINI_API_KEY", "not-the-right-key-1")  # wins over GOOGLE_API_KEY
    (result,) = load().catalog.refresh()
    assert result.status == "failed" and "[INVALID_ARGUMENT] API key not valid" in result.error
    url = refused_url()
    monkeypatch.setenv("GEMINI_BASE_URL", url)
    registry = load()
    assert registry.get("Gemini").working  # registration sent nothing
    (result,) = registry.catalog.refresh()
    assert (result.status, result.error) == ("failed", f"Gemini: connection refused ({url}/v1beta/models)")
    assert "not-the-right-key-1" not in repr(registry.catalog.cache.entries())
    monkeypatch.setenv("GEMINI_BASE_URL", "ftp://example.org")
    misconfigured = load()
    assert misconfigured.catalog.refresh() == [RefreshResult("Gemini", "static", len(SHIPPED))]
    assert misconfigured.get("Gemini").status_reason.startswith("GEMINI_BASE_URL must be an http")
