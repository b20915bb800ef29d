"""Fixtures for the provider-core-openai tests: an isolated environment (no user config,
no real keys, a private cache) and a loopback OpenAI-protocol server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from provider_openai.server import OpenAIServer


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No OPENAI_* variables, no PROVIDER_CORE_CONFIG, and private config/cache dirs,
    so nothing can read the user's files or reach a real endpoint."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PROVIDER_CORE_CONFIG", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A loopback OpenAI-protocol server serving the models ``demo`` and ``gpt-4o-mini``."""
    with OpenAIServer(models=["demo", "gpt-4o-mini"]) as server:
        yield server


@pytest.fixture
def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``write_config(text)`` writes a config file and points PROVIDER_CORE_CONFIG at it."""

    def write(text: str) -> Path:
        path = tmp_path / "provider-core.toml"
        path.write_text(text, encoding="utf-8")
        monkeypatch.setenv("PROVIDER_CORE_CONFIG", str(path))
        return path

    return write
