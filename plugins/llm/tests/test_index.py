"""The model index: built in a child process, read back while its key holds, rebuilt when
llm's plugins or configuration change; llm plugins that fail (raise, or kill the child)
are left out and remembered; llm's user directory and the cache found as llm finds them."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from provider_llm import rebuild
from provider_llm.discovery import index_key, llm_plugins
from provider_llm.index import Index, read_index
from provider_llm.paths import config_files, index_path, user_dir
from provider_llm.rebuild import load_index


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the index builds (each starts at least one child process)."""
    count: list[int] = []
    real = rebuild.build_index

    def counted(environ=None):  # type: ignore[no-untyped-def]
        count.append(1)
        return real(environ)

    monkeypatch.setattr(rebuild, "build_index", counted)
    return count


def _plugins(index: Index) -> dict[str, str | None]:
    return {p.name: p.error for p in index.plugins}


def test_user_dir_as_llm_finds_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert user_dir() == os.environ["LLM_USER_PATH"]
    monkeypatch.delenv("LLM_USER_PATH")
    if sys.platform.startswith("linux"):
        assert user_dir() == str(tmp_path / "config" / "io.datasette.llm")
        assert user_dir({"HOME": "/h"}) != user_dir()  # an environment of its own
    assert user_dir({"LLM_USER_PATH": "/elsewhere"}) == "/elsewhere"
    assert not os.path.exists(user_dir())  # never created here


def test_building_leaves_no_llm_directory_behind(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLM_USER_PATH", str(tmp_path / "never-used-llm"))
    assert "gpt-4o" in {m.id for m in load_index().models}
    assert not (tmp_path / "never-used-llm").exists()


def test_config_files_leave_out_databases_and_directories(llm_home: Path) -> None:
    for name in ("keys.json", "logs.db", "logs.db-wal", "extra-openai-models.yaml"):
        (llm_home / name).write_text("x", "utf-8")
    (llm_home / "templates").mkdir()
    assert [name for name, _, _ in config_files(llm_home)] == ["extra-openai-models.yaml", "keys.json"]
    assert config_files(llm_home / "missing") == []


def test_index_files_by_user_dir(tmp_path: Path) -> None:
    one, two = index_path(tmp_path / "a"), index_path(tmp_path / "b")
    assert one != two
    assert Path(one).parent == tmp_path / "cache" / "provider-core"


def test_a_cold_index_is_built_and_then_read(builds: list[int]) -> None:
    first = load_index()
    assert (len(builds), first.error) == (1, None)
    assert "gpt-4o" in {m.id for m in first.models}
    assert _plugins(first) == {"default": None}
    second = load_index()
    assert (len(builds), second) == (1, first)  # warm: read back, no child
    assert read_index(index_path(user_dir())) == first


def test_installing_an_llm_plugin_rebuilds(builds: list[int], use_site: Callable[[str], Path]) -> None:
    load_index()
    use_site("late")
    index = load_index()
    assert len(builds) == 2
    assert "pcfix_late" in _plugins(index)
    assert {m.id: m.plugin for m in index.models}["pcfix-late"] == "pcfix_late"
    load_index()
    assert len(builds) == 2


@pytest.mark.parametrize("name", ["extra-openai-models.yaml", "aliases.json", "keys.json", "default_model.txt"])
def test_a_config_file_change_rebuilds(builds: list[int], llm_home: Path, name: str) -> None:
    load_index()
    path = llm_home / name
    path.write_text("{}" if name.endswith(".json") else "", "utf-8")
    load_index()
    assert len(builds) == 2
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 5_000_000_000))  # touched
    load_index()
    assert len(builds) == 3
    load_index()
    assert len(builds) == 3


def test_a_new_log_database_does_not_rebuild(builds: list[int], llm_home: Path) -> None:
    load_index()
    (llm_home / "logs.db").write_bytes(b"SQLite format 3\x00")
    load_index()
    assert len(builds) == 1


def test_an_unreadable_index_is_rebuilt(builds: list[int]) -> None:
    load_index()
    Path(index_path(user_dir())).write_text("{not json", "utf-8")
    assert load_index().models
    assert len(builds) == 2


def test_extra_openai_models_are_indexed(loopback_model: Callable[..., object]) -> None:
    loopback_model(supports_tools=True, vision=True)
    entry = {m.id: m for m in load_index().models}["loop"]
    assert (entry.plugin, entry.aliases, entry.needs_key, entry.tools, entry.vision) == (
        "default",
        ("lp",),
        None,
        True,
        True,
    )
    assert (entry.can_stream, entry.has_async, entry.schema) == (True, True, True)
    openai = {m.id: m for m in load_index().models}["gpt-4o"]
    assert (openai.needs_key, openai.key_env_var, openai.key_preset) == ("openai", "OPENAI_API_KEY", False)


def test_a_failing_plugin_is_left_out_and_remembered(builds: list[int], use_site: Callable[[str], Path]) -> None:
    use_site("good")
    use_site("broken")
    index = load_index()
    errors = _plugins(index)
    assert errors["pcfix_echo"] is None and errors["default"] is None
    assert errors["pcfix_broken"] == "import failed: RuntimeError: pcfix broken at import"
    assert errors["pcfix_hookfail"] == "register_models raised ValueError: pcfix hook failed"
    assert {"pcfix-echo", "pcfix-free", "pcfix-async", "gpt-4o"} <= {m.id for m in index.models}
    warm = load_index()
    assert len(builds) == 1
    assert warm.warnings() == [
        "llm plugin 'pcfix_broken' (llm-pcfix-broken 1.0) failed to load: "
        "import failed: RuntimeError: pcfix broken at import",
        "llm plugin 'pcfix_hookfail' (llm-pcfix-hookfail 1.0) failed to load: "
        "register_models raised ValueError: pcfix hook failed",
    ]


def test_a_plugin_that_kills_the_builder_is_left_out(use_site: Callable[[str], Path]) -> None:
    use_site("good")
    use_site("crash")
    index = load_index()
    errors = _plugins(index)
    assert errors["pcfix_crash"].startswith("the index builder exited with code 3 while loading it")
    assert errors["pcfix_echo"] is None
    assert "pcfix-echo" in {m.id for m in index.models}


def test_llm_that_cannot_be_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "fake-llm"
    (fake / "llm").mkdir(parents=True)
    (fake / "llm" / "__init__.py").write_text("raise ImportError('llm is broken here')\n", "utf-8")
    monkeypatch.syspath_prepend(str(fake))
    index = load_index()
    assert (index.models, index.error) == ((), "import failed: ImportError: llm is broken here")
    assert index.warnings() == ["llm could not be used: import failed: ImportError: llm is broken here"]


def test_llm_load_plugins_is_honoured(monkeypatch: pytest.MonkeyPatch, use_site: Callable[[str], Path]) -> None:
    use_site("good")
    use_site("late")
    assert {p.name for p in llm_plugins()} == {"pcfix_echo", "pcfix_late"}
    monkeypatch.setenv("LLM_LOAD_PLUGINS", "llm-pcfix-late")
    assert [p.name for p in llm_plugins()] == ["pcfix_late"]
    assert _plugins(load_index()) == {"default": None, "pcfix_late": None}
    monkeypatch.setenv("LLM_LOAD_PLUGINS", "")
    assert llm_plugins() == []


def test_the_key_names_versions_and_files_never_keys(use_site: Callable[[str], Path], llm_home: Path) -> None:
    use_site("good")
    (llm_home / "keys.json").write_text(json.dumps({"pcfix": "sk-pcfix-never-in-the-index"}), "utf-8")
    key = index_key(llm_home)
    assert ["pcfix_echo", "llm_pcfix_echo", "llm-pcfix-echo", "1.0"] in key["plugins"]
    assert key["llm"] and key["files"][0][0] == "keys.json"
    load_index()
    assert "sk-pcfix" not in Path(index_path(llm_home)).read_text("utf-8")


def test_the_build_timeout_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert rebuild.build_timeout({}) == rebuild.DEFAULT_BUILD_TIMEOUT
    assert rebuild.build_timeout({"PROVIDER_CORE_LLM_BUILD_TIMEOUT": "7.5"}) == 7.5
    for bad in ("soon", "-1", "0", "inf"):
        assert rebuild.build_timeout({"PROVIDER_CORE_LLM_BUILD_TIMEOUT": bad}) == rebuild.DEFAULT_BUILD_TIMEOUT
