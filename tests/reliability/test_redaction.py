"""One redaction step for every upstream text: a key the upstream quotes back never reaches
a user, a client or a log, on any surface (the Python API, the CLI, the gateway's bodies,
events and log), and neither do credentials in a base URL.

The upstream here is a loopback OpenAI-protocol server that puts the caller's key into
whatever it answers: an SSE error event before the first chunk, one after it, a stream
event that is not JSON, and a 200 body that is not JSON. The OpenAI-compatible plugin is
configured with that key through ``OPENAI_API_KEY`` (the library never sees it as an
option, only in the header the plugin builds).
"""

from __future__ import annotations

import base64
import json
import secrets as random_secrets
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import clean_env, run_cli

from provider_core import ProviderError, Registry, create_completion
from provider_core.secrets import REDACTED
from provider_core.testing.server import LoopbackServer, RecordedRequest, Reply

SSE = {"content-type": "text/event-stream"}


def chunk(text: str) -> str:
    return "data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}) + "\n\n"


def quoting_upstream(request: RecordedRequest) -> Reply:
    """Answers in the OpenAI protocol, quoting the bearer key it was sent; the last user
    message says how: ``early``, ``late``, ``garbled`` (an event that is not JSON) or
    ``html`` (a 200 body that is not JSON)."""
    key = request.headers.get("authorization", "").removeprefix("Bearer ")
    if request.method == "GET":
        return Reply(200, body=json.dumps({"data": [{"id": "demo"}]}), headers={"content-type": "application/json"})
    body = request.json
    mode = body["messages"][-1]["content"]
    error = "event: error\ndata: " + json.dumps({"error": {"message": f"key {key} was revoked"}}) + "\n\n"
    if mode == "early":
        return Reply(200, body=error, headers=SSE)
    if mode == "late":
        return Reply(200, body=[chunk("Hello "), error], headers=SSE)
    if mode == "garbled":
        return Reply(200, body=f"data: <html>key={key}</html>\n\n", headers=SSE)
    return Reply(200, body=f"<html>proxy error for key={key}</html>", headers={"content-type": "text/html"})


@pytest.fixture
def key() -> str:
    return "sk-SECRET" + random_secrets.token_hex(10)


@pytest.fixture
def upstream() -> Iterator[LoopbackServer]:
    with LoopbackServer(quoting_upstream, idle_timeout=10.0) as server:
        yield server


@pytest.fixture
def env(upstream: LoopbackServer, key: str, tmp_path: Path) -> dict[str, str]:
    return clean_env(
        OPENAI_API_KEY=key,
        OPENAI_BASE_URL=upstream.url + "/v1",
        PROVIDER_CORE_PLUGINS="openai",
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )


def everything(exc: BaseException) -> str:
    parts = []
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(vars(current))]
        current = current.__cause__ or current.__context__
    return "\n".join([*parts, "".join(traceback.format_exception(exc))])


MODES = [("early", True), ("late", True), ("garbled", True), ("html", False)]


@pytest.mark.parametrize(("mode", "stream"), MODES)
def test_python_api_exceptions_never_quote_the_key(
    env: dict[str, str], key: str, monkeypatch: pytest.MonkeyPatch, mode: str, stream: bool
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    registry = Registry(environ=env)
    with pytest.raises(ProviderError) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = create_completion("demo", [{"role": "user", "content": mode}], stream=stream, registry=registry)
        if stream:
            list(result)
    assert key not in everything(info.value)
    assert REDACTED in str(info.value) or mode == "garbled", str(info.value)


@pytest.mark.parametrize(("mode", "stream"), MODES)
def test_cli_error_lines_never_quote_the_key(env: dict[str, str], key: str, mode: str, stream: bool) -> None:
    args = ["chat", "-m", "demo", mode] if stream else ["chat", "-m", "demo", "--no-stream", mode]
    for extra in ([], ["--debug"]):
        result = run_cli(*extra, *args, env=env)
        assert result.code == 1, result.stderr
        assert result.error_lines, result.stderr
        assert key not in result.stdout + result.stderr


def test_gateway_bodies_events_and_log_never_quote_the_key(
    env: dict[str, str], key: str, upstream: LoopbackServer, gateway_process: Any
) -> None:
    gateway = gateway_process({**env, "PROVIDER_CORE_BREAKER": "off"})  # four faults in a row
    texts = []
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        for mode, stream in MODES:
            body = {"model": "demo", "messages": [{"role": "user", "content": mode}], "stream": stream}
            response = http.post("/v1/chat/completions", json=body)
            texts.append(response.text)
            if mode == "late":
                assert response.status_code == 200 and '"content":"Hello "' in response.text
                assert '"error"' in response.text  # the fault reached the client as an event
            else:
                assert response.status_code == 502, response.text
    assert len(upstream.requests) >= 4
    gateway.stop()
    for text in [*texts, gateway.log]:
        assert key not in text
    assert "sk-SECRET" not in gateway.log


def test_credentials_in_a_base_url_are_never_shown(upstream: LoopbackServer, tmp_path: Path, key: str) -> None:
    """A password in the endpoint's base URL: not in a config error, not in the model-list
    cache, and not when the upstream echoes the Basic credential derived from it."""
    host = upstream.url.split("//", 1)[1]
    config = tmp_path / "config.toml"
    config.write_text(
        "[openai.endpoints.basic]\n"
        f'base_url = "http://user:{key}@{host}/v1"\n'
        "[openai.endpoints.bad]\n"
        f'base_url = "ftp://user:{key}@{host}/v1"\n',
        encoding="utf-8",
    )
    env = clean_env(
        PROVIDER_CORE_CONFIG=str(config),
        PROVIDER_CORE_PLUGINS="openai",
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
    )
    basic = base64.b64encode(f"user:{key}".encode()).decode()
    runs = [
        run_cli("plugins", "--json", env=env),
        run_cli("providers", "--json", env=env),
        run_cli("chat", "-m", "demo", "early", env=env),
    ]
    for result in runs:
        assert key not in result.stdout + result.stderr
        assert basic not in result.stdout + result.stderr
    assert "ftp://" in runs[0].stdout  # the config error is there, without the password
    [request] = [r for r in upstream.requests if r.method == "POST"]
    assert request.headers["authorization"].startswith("Basic ")  # the derived credential was sent and quoted
    cached = "".join(p.read_text() for p in (tmp_path / "cache").rglob("*.json"))
    assert cached and key not in cached
