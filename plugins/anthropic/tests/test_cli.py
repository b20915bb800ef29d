"""The real CLI in a subprocess, with the plugin installed (its entry point) and nothing but
the environment pointing it at the loopback Anthropic server: ``chat --json`` and
``--usage``, streamed and not, a fault midway, input Anthropic cannot take, and no key;
``refresh`` filling the model catalog that listing reads with no request, a failed refresh
shown by ``plugins``, and listing with an unreachable base URL sending nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from provider_anthropic import MODELS
from provider_anthropic.server import AnthropicServer, error_reply, stream_reply
from support import clean_env, run_cli

from provider_core.testing.server import LoopbackServer, refused_url

KEY = "sk-ant-cli-SECRET-4242"
MODEL = "claude-haiku-5-5"


@pytest.fixture
def upstream() -> Iterator[AnthropicServer]:
    with AnthropicServer(api_key=KEY) as running:  # only this key is accepted
        yield running


@pytest.fixture
def env(upstream: AnthropicServer, tmp_path: Path) -> dict[str, str]:
    return clean_env(
        PROVIDER_CORE_PLUGINS="anthropic",
        ANTHROPIC_API_KEY=KEY,
        ANTHROPIC_BASE_URL=upstream.url,
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        PROVIDER_CORE_CACHE_DIR=str(tmp_path / "cache"),
    )


def _no_key(*texts: str) -> None:
    for text in texts:
        assert KEY not in text


@pytest.mark.parametrize("stream", [True, False])
def test_chat_json_prints_the_text_usage_and_finish_reason(upstream, env, stream):
    extra = [] if stream else ["--no-stream"]
    result = run_cli("chat", "-m", MODEL, "--json", *extra, "Hello from the CLI", env=env)
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    usage = summary.pop("usage")
    assert summary == {
        "text": "Hello from the CLI",
        "model": MODEL,
        "provider": "Anthropic",
        "finish_reason": "stop",
        "tool_calls": [],
    }
    assert usage["completion_tokens"] == 4 and usage["total_tokens"] == usage["prompt_tokens"] + 4
    (request,) = upstream.messages_requests
    assert request.json["stream"] is stream and request.json["model"] == MODEL
    assert request.headers["x-api-key"] == KEY
    _no_key(result.stdout, result.stderr)


def test_chat_usage_prints_the_counts_on_stderr(upstream, env):
    upstream.enqueue(stream_reply(["Привет, ", "мир 🌍"], usage=(17, 3), split=3))
    result = run_cli("chat", "-m", MODEL, "--usage", "--max-tokens", "7", "Hi", env=env)
    assert (result.code, result.stdout) == (0, "Привет, мир 🌍\n"), result.stderr
    assert result.stderr == "usage: 17 prompt + 3 completion = 20 tokens\n"
    assert upstream.messages_requests[0].json["max_tokens"] == 7


def test_a_fault_midway_keeps_the_text_in_the_json_and_fails(upstream, env):
    upstream.enqueue(
        stream_reply(["Once ", "upon ", "a time"], error=("overloaded_error", "Overloaded"), error_after=2)
    )
    result = run_cli("chat", "-m", MODEL, "--json", "Tell me a story", env=env)
    assert result.code == 1
    summary = json.loads(result.stdout)
    assert summary["text"] == "Once upon " and summary["error"]["type"] == "StreamInterrupted"
    assert "Overloaded" in summary["error"]["message"]
    assert result.error_lines and "Overloaded" in result.error_lines[0]


def test_what_anthropic_cannot_take_is_a_usage_error_and_nothing_is_sent(upstream, env):
    result = run_cli("chat", "-m", "claude-haiku-4-5-20251001", "-t", "1.5", "Hi", env=env)
    assert result.code == 2 and "temperature" in result.error_lines[0] and "0 to 1" in result.error_lines[0]
    assert upstream.requests == []


def test_without_a_key_the_provider_is_not_working_and_says_which_variable(upstream, env):
    del env["ANTHROPIC_API_KEY"]
    result = run_cli("chat", "-m", MODEL, "Hi", env=env)
    assert result.code == 1 and "ANTHROPIC_API_KEY is not set" in result.stderr
    assert upstream.requests == []


# -- the model catalog ----------------------------------------------------------------------

NEW = "claude-newer-9"


def test_refresh_fills_the_catalog_and_listing_reads_it_with_no_request(upstream, env):
    upstream.models[NEW] = "Claude Newer 9"
    refresh = run_cli("refresh", "anthropic", env=env)
    assert refresh.code == 0, refresh.stderr
    assert refresh.stdout.splitlines()[1].split() == ["Anthropic", "updated", "12"]
    sent = len(upstream.requests)
    (record,) = json.loads(run_cli("providers", "--json", env=env).stdout)["providers"]
    assert (record["name"], record["working"], record["models"]) == ("Anthropic", True, [m.id for m in MODELS] + [NEW])
    assert [NEW, "Anthropic"] in [line.split() for line in run_cli("models", env=env).stdout.splitlines()]
    assert len(upstream.requests) == sent, "listing sent nothing"
    chat = run_cli("chat", "-m", NEW, "Hi", env=env)
    assert (chat.code, chat.stdout) == (0, "Hi\n"), chat.stderr


def test_a_failed_refresh_is_a_warning_of_the_plugin_and_the_models_stay(upstream, env):
    upstream.models_reply = error_reply(529, "overloaded_error", "Overloaded")
    refresh = run_cli("refresh", env=env)
    assert refresh.code == 1
    assert refresh.stdout.splitlines()[1].split()[:3] == ["Anthropic", "failed", "0"]
    problem = (
        f"model list unavailable: HTTP 529 from Anthropic ({upstream.url}/v1/models): [overloaded_error] Overloaded"
    )
    plugins = run_cli("plugins", env=env).stdout.splitlines()
    (row,) = [line.split() for line in plugins if line.startswith("anthropic ")]
    assert row[-4:] == ["loaded", "(1", "warning)", "Anthropic"]
    assert f"  anthropic: warning: {problem}" in plugins
    (record,) = [
        p for p in json.loads(run_cli("plugins", "--json", env=env).stdout)["plugins"] if p["name"] == "anthropic"
    ]
    assert (record["status"], record["label"], record["warnings"]) == ("loaded", "loaded (1 warning)", [problem])
    models = json.loads(run_cli("models", "--json", env=env).stdout)["models"]
    assert sorted(m["id"] for m in models) == sorted(m.id for m in MODELS)
    assert all(m["working"] == ["Anthropic"] for m in models)
    _no_key(refresh.stdout, *plugins)


def test_listing_with_an_unreachable_base_url_sends_nothing(env):
    with LoopbackServer() as watcher:
        env["ANTHROPIC_BASE_URL"] = watcher.url
        for args in (("providers", "--json"), ("models",), ("plugins",), ("route", MODEL)):
            result = run_cli(*args, env=env)
            assert result.code == 0, result.stderr
        assert watcher.connections == 0
    env["ANTHROPIC_BASE_URL"] = refused_url()
    (record,) = json.loads(run_cli("providers", "--json", env=env).stdout)["providers"]
    assert (record["working"], record["models"]) == (True, [m.id for m in MODELS])
