"""The parsed-TOML cache: an unchanged configuration file is read from JSON (no tomllib),
a changed one is parsed again, and nothing that may be a secret is copied."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from provider_openai.config import load_config

from provider_core.tomlcache import cache_name

GOOD = '[openai.endpoints.local]\nbase_url = "http://127.0.0.1:9/v1"\nmodels = ["m"]\npriority = 2\n'


def settle(path: Path) -> None:
    """Date the file 10 s back: a file changed in the last 2 s is never cached (a test aid
    standing in for waiting)."""
    past = time.time() - 10
    os.utime(path, (past, past))


@pytest.fixture
def cache_file(isolated_env: Path) -> Path:
    return isolated_env / "cache" / "provider-core" / cache_name(("openai",))


def endpoints(path: Path) -> list[tuple[str, str, int]]:
    loaded = load_config({"PROVIDER_CORE_CONFIG": str(path)})
    assert loaded.errors == []
    return [(e.name, e.base_url, e.priority) for e in loaded.endpoints]


def test_an_unchanged_file_is_read_without_tomllib(write_config, cache_file: Path, tmp_path: Path):
    path = write_config(GOOD)
    settle(path)
    assert endpoints(path) == [("local", "http://127.0.0.1:9/v1", 2)]
    assert cache_file.exists()
    assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600
    code = (
        "import sys, provider_openai; n = len(provider_openai.load_providers()[0]); "
        "print(n, 'tomllib' in sys.modules or 'tomli' in sys.modules)"  # tomli: the parser on 3.10
    )
    env = {**os.environ, "PROVIDER_CORE_CONFIG": str(path)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "False"]


def test_a_changed_file_is_parsed_again(write_config, cache_file: Path):
    path = write_config(GOOD)
    settle(path)
    endpoints(path)
    path.write_text(GOOD.replace("priority = 2", "priority = 30"))
    settle(path)
    assert endpoints(path) == [("local", "http://127.0.0.1:9/v1", 30)]


def test_a_file_written_just_now_is_not_cached(write_config, cache_file: Path):
    endpoints(write_config(GOOD))
    assert not cache_file.exists()


@pytest.mark.parametrize(
    "extra",
    ['headers = { "X-Token" = "tok-1234567890" }\n', 'proxy = "http://u:pw@proxy:3128"\n'],
)
def test_what_may_be_a_secret_is_never_copied(write_config, cache_file: Path, extra: str):
    path = write_config(GOOD + extra)
    settle(path)
    assert len(load_config({"PROVIDER_CORE_CONFIG": str(path)}).endpoints) == 1
    assert not cache_file.exists()
    url = write_config('[openai.endpoints.x]\nbase_url = "https://user:secret-pw@h.example/v1"\n')
    settle(url)
    load_config({"PROVIDER_CORE_CONFIG": str(url)})
    assert not cache_file.exists()


def test_a_url_with_a_query_string_is_never_copied(write_config, cache_file: Path):
    """A key in a URL's query (``?key=...``) may be a secret like a password in it; the
    OpenAI plugin refuses such a base URL, but the file's other readers see it as it is."""
    path = write_config('[openai.endpoints.x]\nbase_url = "https://h.example/v1?key=secret-in-query-123"\n')
    settle(path)
    load_config({"PROVIDER_CORE_CONFIG": str(path)})
    assert not cache_file.exists()


def test_syntax_errors_are_reported_every_time(write_config, cache_file: Path):
    path = write_config('[openai.endpoints.x]\nbase_url = = "http://h/v1"\n')
    settle(path)
    for _ in range(2):
        (error,) = load_config({"PROVIDER_CORE_CONFIG": str(path)}).errors
        assert "invalid TOML" in error and "line 2" in error
    assert not cache_file.exists()
