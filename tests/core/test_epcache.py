"""The entry-point cache: a start whose ``sys.path`` has not changed reads the installed
plugins from the cache and imports no importlib.metadata; installing or removing a
distribution (with real pip) invalidates it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import HERE, clean_env, pip_install_target

from provider_core import epcache

FIXTURES = HERE / "fixtures" / "plugins"
PROBE = """
import json, sys
from provider_core.registry import Registry
registry = Registry(environ={"PROVIDER_CORE_PLUGINS": "pcfix_good,pcfix_dup_a"})
loaded = {i.name: i.providers for i in registry.plugins() if i.status == "loaded"}
metadata = any(m in sys.modules for m in ("importlib_metadata", "importlib.metadata"))
print(json.dumps({"loaded": loaded, "scanned": metadata}))
"""


def settle(*paths: Path) -> None:
    """Date the directories 10 s back: the cache refuses a directory changed in the last
    SETTLE_SECONDS (a test aid standing in for waiting, which tests never do)."""
    past = time.time() - 10
    for path in paths:
        os.utime(path, (past, past))


@pytest.fixture
def start(tmp_path: Path):
    """``start(site, **env)``: a fresh interpreter with ``site`` on its path runs PROBE in an
    empty directory and says which plugins loaded and whether it scanned the metadata."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    settle(cwd)
    cache = tmp_path / "cache"

    def run(site: Path, **env: str) -> dict:
        environ = clean_env(PYTHONPATH=str(site), PROVIDER_CORE_CACHE_DIR=str(cache), **env)
        proc = subprocess.run(
            [sys.executable, "-c", PROBE], env=environ, cwd=cwd, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    run.cache = cache
    return run


def test_installing_and_removing_a_plugin_invalidates_the_cache(tmp_path: Path, start):
    site = tmp_path / "site"
    pip_install_target([FIXTURES / "good"], site, tmp_path / "build1")
    settle(site)
    first = start(site)
    assert first == {"loaded": {"pcfix_good": ["FixtureEcho", "FixtureSleeper", "FixtureGated"]}, "scanned": True}
    assert len(list(start.cache.glob("entry-points-*.json"))) == 1
    assert start(site) == {**first, "scanned": False}, "the second start reads the cache"

    pip_install_target([FIXTURES / "dup_a"], site, tmp_path / "build2")
    installed = start(site)
    assert installed["scanned"] is True and set(installed["loaded"]) == {"pcfix_good", "pcfix_dup_a"}
    settle(site)
    start(site)
    assert start(site) == {**installed, "scanned": False}

    (dist_info,) = site.glob("pcfix_dup_a-*.dist-info")
    shutil.rmtree(dist_info)  # what pip uninstall does to the metadata
    removed = start(site)
    assert removed == {"loaded": {"pcfix_good": first["loaded"]["pcfix_good"]}, "scanned": True}


def test_a_directory_changed_just_now_is_not_cached(tmp_path: Path, start):
    site = tmp_path / "site"
    pip_install_target([FIXTURES / "good"], site, tmp_path / "build")
    assert start(site)["scanned"] and start(site)["scanned"], "fresh from pip: not cached yet"
    assert list(start.cache.glob("entry-points-*.json")) == []


def test_the_cache_can_be_turned_off(tmp_path: Path, start):
    site = tmp_path / "site"
    pip_install_target([FIXTURES / "good"], site, tmp_path / "build")
    settle(site)
    for _ in range(2):
        assert start(site, PROVIDER_CORE_ENTRY_POINT_CACHE="0")["scanned"] is True
    assert list(start.cache.glob("entry-points-*.json")) == []


def test_a_damaged_or_foreign_cache_file_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PROVIDER_CORE_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "site").mkdir()
    paths = [str(tmp_path / "site")]
    settle(tmp_path / "site")
    entries = [["one", "mod:attr", "dist", "1.0"]]
    assert epcache.store("grp", entries, paths) is True
    assert epcache.load("grp", paths) == entries
    assert epcache.load("other-group", paths) is None
    (file,) = (tmp_path / "cache").glob("entry-points-*.json")
    file.write_text("{broken")
    assert epcache.load("grp", paths) is None
    epcache.store("grp", entries, paths)
    (tmp_path / "site" / "new.dist-info").mkdir()  # the directory changed: its fingerprint no longer matches
    assert epcache.load("grp", paths) is None


def test_at_most_max_files_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PROVIDER_CORE_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "site").mkdir()
    settle(tmp_path / "site")
    for n in range(epcache.MAX_FILES + 3):
        assert epcache.store("grp", [], [str(tmp_path / "site"), f"/nonexistent/{n}"])
    assert len(list((tmp_path / "cache").glob("entry-points-*.json"))) == epcache.MAX_FILES
