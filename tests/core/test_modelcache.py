"""The model catalog's cache file, and the user directories it lives in."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import MappingProxyType

import pytest

from provider_core.modelcache import (
    FILE_NAME,
    ModelCache,
    ModelEntry,
    Recording,
    age_text,
    default_cache,
    entry_key,
    list_problem,
    with_cached_models,
)
from provider_core.userdirs import cache_dir, cache_file, config_dir


def test_entries_round_trip_and_updates_merge(tmp_path: Path):
    cache = ModelCache(str(tmp_path / "sub" / FILE_NAME))
    assert cache.entries() == {} and cache.signature() is None
    one = ModelEntry(("a", "b"), 10.0, None, 10.0)
    assert cache.update({"x http://h": one}) is True
    two = ModelEntry((), None, "connection refused (http://h/models)", 20.0)
    assert cache.update({"y http://h": two}) is True
    assert cache.entries() == {"x http://h": one, "y http://h": two}
    assert ModelCache(cache.path).entries() == cache.entries(), "another reader sees the same"
    data = json.loads(Path(cache.path).read_text())
    assert data["format"] == 1 and data["entries"]["x http://h"]["models"] == ["a", "b"]


def test_a_change_by_another_writer_is_seen(tmp_path: Path):
    path = str(tmp_path / FILE_NAME)
    reader, writer = ModelCache(path), ModelCache(path)
    writer.update({"k": ModelEntry(("a",), 1.0, None, 1.0)})
    assert list(reader.entries()) == ["k"]
    before = reader.signature()
    writer.update({"k": ModelEntry(("a", "b"), 2.0, None, 2.0)})
    assert reader.signature() != before
    assert reader.entries()["k"].models == ("a", "b")


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"format": 2, "entries": {}}',
        '{"format": 1, "entries": []}',
        '{"format": 1, "entries": {"k": {"models": [1], "fetched_at": 1, "error": null, "checked_at": 1}}}',
        '{"format": 1, "entries": {"k": {"models": ["a"], "fetched_at": true, "error": null, "checked_at": 1}}}',
        '{"format": 1, "entries": {"k": {"models": ["a"], "fetched_at": 1, "error": 5, "checked_at": 1}}}',
    ],
)
def test_a_damaged_file_is_an_empty_cache(tmp_path: Path, content: str):
    path = tmp_path / FILE_NAME
    path.write_text(content)
    assert ModelCache(str(path)).entries() == {}


def test_an_unwritable_cache_loses_the_update_only(tmp_path: Path):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    cache = ModelCache(str(blocked / FILE_NAME))
    assert cache.update({"k": ModelEntry(("a",), 1.0, None, 1.0)}) is False
    assert cache.entries() == {}


def test_lookups_are_recorded_while_recording(tmp_path: Path):
    cache = ModelCache(str(tmp_path / FILE_NAME))
    entry = ModelEntry(("a",), 1.0, None, 1.0)
    cache.update({entry_key("Live", "http://h"): entry})
    seen: dict = {}
    with Recording(seen):
        assert cache.lookup("LIVE", "http://h") == entry
        assert cache.lookup("other", "http://h") is None
    cache.lookup("after", "http://h")
    assert seen == {"live http://h": entry, "other http://h": None}


def test_the_words_for_a_list_that_is_missing_or_failed():
    assert list_problem("ep", None) == "model list not fetched yet ('provider-core refresh ep' fetches it)"
    assert list_problem("ep", ModelEntry(("a",), 100.0, None, 100.0)) is None
    failed = ModelEntry(("a",), 100.0, "HTTP 503", 400.0)
    assert (
        list_problem("ep", failed, now=400.0) == "model list unavailable: HTTP 503 (showing the list fetched 5 min ago)"
    )
    assert list_problem("ep", ModelEntry((), None, "HTTP 503", 1.0)) == "model list unavailable: HTTP 503"
    assert [age_text(s) for s in (5, 600, 10800, 3 * 86400)] == ["5s", "10 min", "3 h", "3 days"]


def test_a_shipped_list_plus_the_cached_live_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PROVIDER_CORE_CACHE_DIR", str(tmp_path))

    class Vendor:
        """A provider shipping two models."""

        name, url = "Vendor", "http://vendor"
        models = MappingProxyType({"a": "Model A", "b": "Model B"})

    assert with_cached_models(Vendor) == (Vendor, None), "never fetched: the shipped list stands, no problem"
    key = entry_key("Vendor", "http://vendor")
    default_cache().update({key: ModelEntry(("b", "c"), 100.0, None, 100.0)})
    served, problem = with_cached_models(Vendor)
    assert issubclass(served, Vendor) and served is not Vendor and problem is None
    assert dict(served.models) == {"a": "Model A", "b": "Model B", "c": "c"}
    assert (served.__name__, served.__doc__) == ("Vendor", Vendor.__doc__)
    assert isinstance(served.models, MappingProxyType) and dict(Vendor.models) == {"a": "Model A", "b": "Model B"}
    default_cache().update({key: ModelEntry(("c",), 100.0, "HTTP 503", 200.0)})
    served, problem = with_cached_models(Vendor)
    assert list(served.models) == ["a", "b", "c"] and problem.startswith("model list unavailable: HTTP 503 (showing")
    default_cache().update({key: ModelEntry(("a",), 300.0, None, 300.0)})
    assert with_cached_models(Vendor) == (Vendor, None), "nothing new in the cache: the class itself"


def test_the_default_cache_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PROVIDER_CORE_CACHE_DIR", str(tmp_path / "one"))
    first = default_cache()
    assert first.path == str(tmp_path / "one" / FILE_NAME) and default_cache() is first
    monkeypatch.setenv("PROVIDER_CORE_CACHE_DIR", str(tmp_path / "two"))
    assert default_cache().path == str(tmp_path / "two" / FILE_NAME)


def test_user_directories_follow_each_platform(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HOME", "/home/u")
    env = {"XDG_CACHE_HOME": "/x/cache", "XDG_CONFIG_HOME": "/x/config", "LOCALAPPDATA": "/c/AppData/Local"}
    assert cache_dir(env, "linux") == "/x/cache/provider-core"
    assert config_dir(env, "linux") == "/x/config/provider-core"
    assert cache_dir({}, "linux") == "/home/u/.cache/provider-core"
    assert config_dir({"XDG_CONFIG_HOME": "  "}, "linux") == "/home/u/.config/provider-core"
    assert cache_dir(env, "darwin") == "/home/u/Library/Caches/provider-core"
    assert config_dir(env, "darwin") == "/home/u/Library/Application Support/provider-core"
    assert cache_dir(env, "win32").replace("\\", "/") == "/c/AppData/Local/provider-core/Cache"
    assert config_dir(env, "win32").replace("\\", "/") == "/c/AppData/Local/provider-core"
    assert cache_dir({**env, "PROVIDER_CORE_CACHE_DIR": "/mine"}, "darwin") == "/mine"


def test_a_cache_file_is_named_by_a_digest_every_process_agrees_on():
    """32-bit FNV-1a of the key (the published test vector for "a"), not ``hash()``, which
    changes with each process's hash seed; the directory is the cache directory."""
    env = {"PROVIDER_CORE_CACHE_DIR": "/c"}
    assert cache_file("entry-points", "a", env) == os.path.join("/c", "entry-points-e40c292c.json")
    assert cache_file("llm-index", "", env) == os.path.join("/c", "llm-index-811c9dc5.json")
    assert cache_file("x", "one", env) != cache_file("x", "two", env)


def test_a_url_with_credentials_is_keyed_and_stored_without_them(tmp_path: Path):
    """The cache file is on disk: a plugin that put a password (or a secret query) in its
    provider's ``url`` must not have it written there; lookups by the same URL still hit."""
    url = "https://bob:pw-in-the-url-123@Api.Example/v1?key=k-in-the-url-456"
    cache = ModelCache(str(tmp_path / FILE_NAME))
    entry = ModelEntry(("a",), 1.0, None, 1.0)
    assert entry_key("Careless", url) == "careless https://api.example/v1"
    assert cache.update({entry_key("Careless", url): entry})
    assert cache.lookup("Careless", url) == entry
    stored = (tmp_path / FILE_NAME).read_text()
    assert "pw-in-the-url-123" not in stored and "k-in-the-url-456" not in stored
