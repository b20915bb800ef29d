"""The real CLI, in a subprocess, with the plugin installed: OPENAI_BASE_URL pointing at a
loopback server is enough for `provider-core chat` to stream through routing and for
`provider-core route` to show the endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from provider_openai.server import OpenAIServer, chat_chunk, sse

from provider_core.plugins import discover
from provider_core.testing.server import Reply, refused_url

KEY = "sk-cli-SECRET-4242"


def _installed() -> bool:
    return any(s.name == "openai" and s.value == "provider_openai" for s in discover({}))


@pytest.fixture(autouse=True)
def _needs_the_entry_point() -> None:
    if not _installed():
        if os.environ.get("PROVIDER_CORE_EXPECT_INSTALLED"):
            pytest.fail("the provider_core entry point 'openai' is not installed")
        pytest.skip("provider-core-openai is not installed (pip install plugins/openai)")


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PROVIDER_CORE_"))}
    env.update(
        PROVIDER_CORE_PLUGINS="openai",
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        PYTHONWARNINGS="ignore::DeprecationWarning",
    )
    return env


def cli(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provider_core", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def server():
    with OpenAIServer(models=["demo", "gpt-4o-mini"], api_key=KEY) as running:
        yield running


def test_chat_streams_through_routing_and_route_shows_the_endpoint(server, cli_env, tmp_path):
    cli_env.update(OPENAI_BASE_URL=server.url, OPENAI_API_KEY=KEY)
    chat = cli(cli_env, "chat", "-m", "demo", "Hello from the CLI", cwd=tmp_path)
    assert (chat.returncode, chat.stdout, chat.stderr) == (0, "Hello from the CLI\n", "")
    (request,) = server.chats
    assert request.json["stream"] is True and request.json["model"] == "demo"
    assert request.headers["authorization"] == f"Bearer {KEY}"

    route = cli(cli_env, "route", "demo", "--stream", cwd=tmp_path)
    assert route.returncode == 0, route.stderr
    assert "1. openai (priority 0, plugin openai)" in route.stdout

    no_stream = cli(cli_env, "chat", "-m", "gpt-4o-mini", "--no-stream", "--system", "be terse", "Hi", cwd=tmp_path)
    assert (no_stream.returncode, no_stream.stdout) == (0, "Hi\n")
    assert server.chats[-1].json["stream"] is False
    assert server.chats[-1].json["messages"][0] == {"role": "system", "content": "be terse"}


def test_chat_output_appears_before_the_reply_has_ended(server, cli_env, tmp_path):
    first = sse(chat_chunk("first "))
    rest = sse(chat_chunk("second"), chat_chunk(finish_reason="stop"), "[DONE]")
    server.enqueue(Reply(200, body=[first, rest], headers={"content-type": "text/event-stream"}, delay_between=2.0))
    cli_env.update(OPENAI_BASE_URL=server.url, OPENAI_API_KEY=KEY)
    proc = subprocess.Popen(
        [sys.executable, "-m", "provider_core", "chat", "-m", "demo", "go"],
        env=cli_env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        seen = b""
        while b"first" not in seen:
            data = os.read(proc.stdout.fileno(), 1024)
            assert data, "the CLI ended before printing the first chunk"
            seen += data
        # the server is still inside its 2 s pause: the CLI printed while the reply streamed
        assert server.chats[-1].outcome == "pending"
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (seen + out).decode() == "first second\n"
    assert proc.returncode == 0, err


def test_providers_and_plugins_never_show_the_key(server, cli_env, tmp_path):
    cli_env.update(OPENAI_BASE_URL=server.url, OPENAI_API_KEY=KEY)
    outputs = []
    for args in (("providers",), ("providers", "--json"), ("plugins",), ("plugins", "--json"), ("route", "demo")):
        result = cli(cli_env, *args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout + result.stderr)
    assert all(KEY not in text for text in outputs)
    (record,) = json.loads(outputs[1])["providers"]
    assert (record["name"], record["working"], record["plugin"], record["needs_auth"]) == (
        "openai",
        True,
        "openai",
        True,
    )
    assert (record["models"], record["supports_gpt_4"], record["status_reason"]) == (
        ["demo", "gpt-4o-mini"],
        True,
        None,
    )


def test_an_unreachable_endpoint_is_shown_not_working_with_the_reason(cli_env, tmp_path):
    url = refused_url() + "/v1"
    cli_env.update(OPENAI_BASE_URL=url)
    result = cli(cli_env, "providers", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"openai: not working: model list unavailable: connection refused ({url}/models)" in result.stdout
    plugins = cli(cli_env, "plugins", cwd=tmp_path)
    (row,) = [line for line in plugins.stdout.splitlines() if line.startswith("openai ")]
    assert row.split()[-2:] == ["loaded", "openai"]  # loaded, and the endpoint is its provider


def test_config_errors_show_in_plugins_with_file_and_key(server, cli_env, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(
        f'[openai.endpoints.local]\nbase_url = "{server.url}"\napi_key_env = "LOCAL_KEY"\n'
        '[openai.endpoints.broken]\nbase_url = "http://127.0.0.1:9/v1"\ntimeout = "soon"\n'
    )
    cli_env.update(PROVIDER_CORE_CONFIG=str(config), LOCAL_KEY=KEY)
    plugins = cli(cli_env, "plugins", cwd=tmp_path)
    assert plugins.returncode == 0, plugins.stderr
    assert f"{config}: openai.endpoints.broken.timeout: must be a positive number of seconds" in plugins.stdout
    chat = cli(cli_env, "chat", "-m", "demo", "still works", cwd=tmp_path)
    assert (chat.returncode, chat.stdout) == (0, "still works\n")


def test_a_failing_endpoint_is_one_line_on_stderr(server, cli_env, tmp_path):
    cli_env.update(OPENAI_BASE_URL=server.url, OPENAI_API_KEY="sk-wrong-key-0000")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[openai.endpoints.openai]\nbase_url = "{server.url}"\napi_key_env = "OPENAI_API_KEY"\nmodels = ["demo"]\n'
    )
    cli_env["PROVIDER_CORE_CONFIG"] = str(config)
    chat = cli(cli_env, "chat", "-m", "demo", "hi", cwd=tmp_path)
    assert chat.returncode == 1
    lines = chat.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: HTTP 401")
    assert "[invalid_request_error] Incorrect API key provided." in lines[0]
    assert "sk-wrong-key-0000" not in chat.stderr + chat.stdout


def test_chat_max_tokens_json_and_usage(server, cli_env, tmp_path):
    cli_env.update(OPENAI_BASE_URL=server.url, OPENAI_API_KEY=KEY)
    usage = cli(cli_env, "chat", "-m", "demo", "--max-tokens", "5", "--usage", "Hello there", cwd=tmp_path)
    assert (usage.returncode, usage.stdout) == (0, "Hello there\n"), usage.stderr
    assert server.chats[-1].json["max_tokens"] == 5
    assert server.chats[-1].json["stream_options"] == {"include_usage": True}
    assert usage.stderr == "usage: 3 prompt + 3 completion = 6 tokens\n"  # the loopback server's counts

    for extra in ([], ["--no-stream"]):
        proc = cli(cli_env, "chat", "-m", "demo", "--json", *extra, "Hello there", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert data == {
            "text": "Hello there",
            "model": "demo",
            "provider": "openai",
            "finish_reason": "stop",
            "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
            "tool_calls": [],
        }


def test_chat_json_after_a_fault_midway_keeps_the_text_and_names_the_error(server, cli_env, tmp_path):
    cli_env.update(OPENAI_BASE_URL=server.url, OPENAI_API_KEY=KEY)
    body = sse(chat_chunk("partial "), chat_chunk("text"))  # no finish_reason, no [DONE]
    server.enqueue(Reply(200, body=body, headers={"content-type": "text/event-stream"}))
    proc = cli(cli_env, "chat", "-m", "demo", "--json", "Hi", cwd=tmp_path)
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["text"] == "partial text" and data["error"]["type"] == "StreamInterrupted"
    assert proc.stderr.startswith("error: ")


def test_chat_max_tokens_must_be_positive(server, cli_env, tmp_path):
    cli_env.update(OPENAI_BASE_URL=server.url, OPENAI_API_KEY=KEY)
    proc = cli(cli_env, "chat", "-m", "demo", "--max-tokens", "0", "Hi", cwd=tmp_path)
    assert proc.returncode == 2 and "max_tokens" in proc.stderr and server.chats == []
