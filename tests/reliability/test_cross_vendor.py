"""Fallback from one vendor to another, as a user sets it up: the Anthropic and Gemini
plugins installed, each pointed at its loopback protocol server by its environment
variables, and an alias in the config file naming a model of each. Anthropic answers 529
(overloaded) before any text: the request falls back to Gemini, which is asked for its own
model. Through the CLI (a subprocess, as a user runs it) and the Python API."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import clean_env, run_cli

anthropic_server = pytest.importorskip("provider_anthropic.server")
gemini_server = pytest.importorskip("provider_gemini.server")
from provider_anthropic.models import DEFAULT_MODEL as CLAUDE  # noqa: E402
from provider_anthropic.server_replies import error_reply  # noqa: E402
from provider_gemini.catalog import DEFAULT_MODEL as GEMINI  # noqa: E402

from provider_core import Registry, create_completion  # noqa: E402
from provider_core.errors import FallbackWarning  # noqa: E402


@pytest.fixture
def vendors(tmp_path: Path) -> Iterator[tuple[object, object, dict[str, str]]]:
    config = tmp_path / "config.toml"
    config.write_text(f'[aliases]\nsmart = ["{CLAUDE}@anthropic", "{GEMINI}@gemini"]\n', encoding="utf-8")
    with anthropic_server.AnthropicServer() as claude, gemini_server.GeminiServer() as gemini:
        env = {
            "ANTHROPIC_API_KEY": "sk-ant-cross-vendor-0001",
            "ANTHROPIC_BASE_URL": claude.url,
            "GEMINI_API_KEY": "gemini-cross-vendor-0001",
            "GEMINI_BASE_URL": gemini.url,
            "PROVIDER_CORE_CONFIG": str(config),
            "PROVIDER_CORE_PLUGINS": "anthropic,gemini",
        }
        yield claude, gemini, env


def test_the_cli_falls_back_from_anthropic_to_gemini_through_an_alias(vendors, tmp_path):
    claude, gemini, env = vendors
    claude.enqueue(error_reply(529, "overloaded_error", "Overloaded"))
    proc = run_cli("chat", "-m", "smart", "--json", "Hello across vendors", env=clean_env(**env), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["provider"] == "Gemini" and "Hello across vendors" in data["text"]
    assert data["usage"] is not None and data["finish_reason"] == "stop"
    assert "warning: fell back to Gemini after: Anthropic" in proc.stderr and "HTTP 529" in proc.stderr
    (sent,) = [r for r in gemini.requests if ":streamGenerateContent" in r.path or ":generateContent" in r.path]
    assert GEMINI in sent.path  # Gemini was asked for its own model, not the alias

    route = run_cli("route", "smart", "--json", env=clean_env(**env), cwd=tmp_path)
    assert [(c["name"], c["model"]) for c in json.loads(route.stdout)["candidates"]] == [
        ("Anthropic", CLAUDE),
        ("Gemini", GEMINI),
    ]


def test_the_python_api_falls_back_too_and_keeps_tools_across_vendors(vendors, monkeypatch):
    claude, _, env = vendors
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # the plugins read their keys and base URLs from the environment
    claude.enqueue(error_reply(529, "overloaded_error", "Overloaded"))
    registry = Registry(environ=env)
    weather = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reply = create_completion(
            "smart", [{"role": "user", "content": "Weather?"}], registry=registry, tools=[weather]
        )
        text = "".join(reply)
    assert reply.provider == "Gemini" and reply.model_used == GEMINI
    assert text == "" and [c.name for c in reply.tool_calls] == ["weather"]  # Gemini's echo calls the tool
    assert any(issubclass(w.category, FallbackWarning) for w in caught)
