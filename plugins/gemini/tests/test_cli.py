"""The real CLI in a subprocess, with the installed plugin: ``GEMINI_API_KEY`` and
``GEMINI_BASE_URL`` pointing at the loopback Gemini server are all ``provider-core chat``
needs; ``--json`` prints the reply with Gemini's finish reason and usage, ``--usage`` the
counts on stderr. The key is in no output."""

from __future__ import annotations

import json
import os

import pytest
from provider_gemini.server import GeminiServer, error_reply, stream_reply, usage_metadata
from support import clean_env, run_cli

from provider_core.plugins import discover

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
