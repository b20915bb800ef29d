"""The real CLI in a subprocess, with the installed plugin: ``GEMINI_API_KEY`` and
``GEMINI_BASE_URL`` pointing at the loopback Gemini server are all ``provider-core chat``
needs; ``--json`` prints the reply with Gemini's finish reason and usage, ``--usage`` the
counts on stderr. ``refresh`` fills the model catalog that listing reads with no request,
a failed refresh is shown by ``plugins``, listing with an unreachable base URL sends
nothing. The key is in no output."""

from __future__ import annotations

import json
import os

import pytest
from provider_gemini.catalog import MODELS
from provider_gemini.server import GeminiServer, error_reply, stream_reply, usage_metadata
from support import clean_env, run_cli

from provider_core.plugins import discover
from provider_core.testing.server import LoopbackServer, refused_url

MODEL = "gemini-3.8-flash"
KEY = "cli-key-SECRET-90c4e1"


@pytest.fixture(autouse=True)
def _needs_the_entry_point() -> None:
    if not any(s.name == "gemini" and s.value == "provider_gemini" for s in discover({})):
        if os.environ.get("PROVIDER_CORE_EXPECT_INSTALLED"):
            pytest.fail("the provider_core entry point 'gemini' is not installed")
        pytest.skip("provider-core-gemini is not installed (pip install plugins/gemini)")


@pytest.fixture
def server():
    with GeminiServer(api_key=KEY) as running:
        yield running


@pytest.fixture
def env(server, tmp_path) -> dict[str, str]:
    return clean_env(
        PROVIDER_CORE_PLUGINS="gemini",
        GEMINI_API_KEY=KEY,
        GEMINI_BASE_URL=server.url,
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        PROVIDER_CORE_CACHE_DIR=str(tmp_path / "cache"),
    )


@pytest.mark.parametrize("mode", [[], ["--no-stream"]])
def test_chat_json_carries_the_finish_reason_and_usage(server, env, mode):
    if not mode:  # the non-streamed request is answered by the echo, with its own usage
        server.enqueue(stream_reply(["Привет", ", мир 🌍"], finish_reason="MAX_TOKENS", usage=usage_metadata(9, 4, 2)))
    result = run_cli("chat", "-m", MODEL, "--json", "--max-tokens", "4", *mode, "Say hi", env=env)
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["model"], data["provider"], data["tool_calls"]) == (MODEL, "Gemini", [])
    (request,) = server.generations
    assert request.json["generationConfig"] == {"maxOutputTokens": 4}
    if mode:
        assert request.path.endswith(":generateContent")
        assert (data["text"], data["finish_reason"]) == ("Say hi", "stop")
        assert data["usage"]["total_tokens"] == data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"]
    else:
        assert request.path.endswith(":streamGenerateContent?alt=sse")
        assert (data["text"], data["finish_reason"]) == ("Привет, мир 🌍", "length")
        assert data["usage"] == {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15}
    assert KEY not in result.stdout + result.stderr


def test_chat_usage_prints_the_counts_on_stderr(server, env):
    server.enqueue(stream_reply(["Hello ", "there"], usage=usage_metadata(12, 3)))
    result = run_cli("chat", "-m", MODEL, "--usage", "--system", "Be brief.", "Hi", env=env)
    assert (result.code, result.stdout) == (0, "Hello there\n"), result.stderr
    assert result.stderr == "usage: 12 prompt + 3 completion = 15 tokens\n"
    (request,) = server.generations
    assert request.json["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert request.headers["x-goog-api-key"] == KEY


def test_a_refused_key_is_one_error_line_naming_the_variable_never_the_key(server, env):
    server.api_key = "another-key"
    result = run_cli("chat", "-m", MODEL, "--json", "Hi", env=env)
    assert result.code == 1
    (line,) = result.error_lines
    assert "GEMINI_API_KEY" in line and "API_KEY_INVALID" in line
    assert KEY not in result.stdout + result.stderr


def test_a_server_error_is_one_line(server, env):
    server.enqueue(error_reply(500, "An internal error has occurred."))
    result = run_cli("chat", "-m", MODEL, "Hi", env=env)
    assert (result.code, result.stdout) == (1, "")
    (line,) = result.error_lines
    assert "500" in line and "An internal error has occurred." in line


# -- the model catalog ----------------------------------------------------------------------

NEW = "gemini-9.9-flash"
SHIPPED = [m.id for m in MODELS]


def test_refresh_fills_the_catalog_and_listing_reads_it_with_no_request(server, env):
    server.models.append(NEW)
    refresh = run_cli("refresh", "gemini", env=env)
    assert refresh.code == 0, refresh.stderr
    assert refresh.stdout.splitlines()[1].split() == ["Gemini", "updated", str(len(SHIPPED) + 1)]
    sent = len(server.requests)
    (record,) = json.loads(run_cli("providers", "--json", env=env).stdout)["providers"]
    assert (record["name"], record["working"], record["models"]) == ("Gemini", True, [*SHIPPED, NEW])
    assert [NEW, "Gemini"] in [line.split() for line in run_cli("models", env=env).stdout.splitlines()]
    assert len(server.requests) == sent, "listing sent nothing"
    chat = run_cli("chat", "-m", NEW, "Hi", env=env)
    assert (chat.code, chat.stdout) == (0, "Hi\n"), chat.stderr


def test_a_failed_refresh_is_a_warning_of_the_plugin_and_the_models_stay(server, env):
    server.models_reply = error_reply(503, "The service is starting.")
    refresh = run_cli("refresh", env=env)
    assert refresh.code == 1
    assert refresh.stdout.splitlines()[1].split()[:3] == ["Gemini", "failed", "0"]
    problem = (
        f"model list unavailable: HTTP 503 Service Unavailable from Gemini ({server.url}/v1beta/models): "
        "[UNAVAILABLE] The service is starting."
    )
    plugins = run_cli("plugins", env=env).stdout.splitlines()
    (row,) = [line.split() for line in plugins if line.startswith("gemini ")]
    assert row[-4:] == ["loaded", "(1", "warning)", "Gemini"]
    assert f"  gemini: warning: {problem}" in plugins
    (record,) = [
        p for p in json.loads(run_cli("plugins", "--json", env=env).stdout)["plugins"] if p["name"] == "gemini"
    ]
    assert (record["status"], record["label"], record["warnings"]) == ("loaded", "loaded (1 warning)", [problem])
    models = json.loads(run_cli("models", "--json", env=env).stdout)["models"]
    assert sorted(m["id"] for m in models) == sorted(SHIPPED)
    assert all(m["working"] == ["Gemini"] for m in models)
    assert all(KEY not in line for line in [refresh.stdout, *plugins])


def test_listing_with_an_unreachable_base_url_sends_nothing(env):
    with LoopbackServer() as watcher:
        env["GEMINI_BASE_URL"] = watcher.url
        for args in (("providers", "--json"), ("models",), ("plugins",), ("route", MODEL)):
            result = run_cli(*args, env=env)
            assert result.code == 0, result.stderr
        assert watcher.connections == 0
    env["GEMINI_BASE_URL"] = refused_url()
    (record,) = json.loads(run_cli("providers", "--json", env=env).stdout)["providers"]
    assert (record["working"], record["models"]) == (True, SHIPPED)
