"""The gateway, tried as an attacker would, over real sockets against `provider-core serve`.

Each test names the point of the hardening it proves: auth before the body and a body
timeout, the Host and content-type checks of a keyless gateway, malformed and hostile JSON,
argument types, a keys variable that would turn auth off, clients that leave before the
reply starts, the access log, a flood of idle connections, lone surrogates in a reply.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import clean_env, run_cli

from provider_core.testing.server import LoopbackServer, RecordedRequest, Reply

from .conftest import established, wait_until

KEY = "sk-gateway-hardening-0123456789"
SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}


def chunk(text: str) -> str:
    return "data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}) + "\n\n"


class Upstream:
    """An OpenAI-protocol upstream on loopback: lists ``demo``; a chat whose last message is
    ``slow`` waits (up to 60 s, or until the server stops) before its first byte; one that is
    ``surrogate`` gets a stream, or a reply, holding a lone surrogate escape after good text;
    anything else is echoed."""

    def __init__(self) -> None:
        self.server = LoopbackServer(self.answer, idle_timeout=10.0)
        self.slow_started = threading.Semaphore(0)

    def answer(self, request: RecordedRequest) -> Reply:
        if request.method == "GET":
            return Reply(200, body=json.dumps({"data": [{"id": "demo"}]}), headers=JSON)
        body = request.json
        prompt = body["messages"][-1]["content"]
        if prompt == "slow":
            self.slow_started.release()
            return Reply(200, body=chunk("late"), headers=SSE, delay_before=60)
        if prompt == "surrogate":
            if body.get("stream"):
                bad = 'data: {"choices": [{"index": 0, "delta": {"content": "x\\ud800y"}}]}\n\n'
                return Reply(200, body=[chunk("good "), bad, "data: [DONE]\n\n"], headers=SSE)
            reply = '{"choices": [{"index": 0, "message": {"content": "good x\\ud800y"}}]}'
            return Reply(200, body=reply, headers=JSON, framing="length")
        if body.get("stream"):
            return Reply(200, body=[chunk(prompt), "data: [DONE]\n\n"], headers=SSE)
        reply = json.dumps({"choices": [{"index": 0, "message": {"content": prompt}}]})
        return Reply(200, body=reply, headers=JSON, framing="length")


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    with up.server:
        yield up


@pytest.fixture
def env(upstream: Upstream, tmp_path: Path) -> dict[str, str]:
    return clean_env(
        OPENAI_BASE_URL=upstream.server.url + "/v1",
        PROVIDER_CORE_PLUGINS="openai",
        PROVIDER_CORE_BREAKER="off",
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )


def raw_exchange(url: str, data: bytes, *, hold: bool = False) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it or a whole
    response has arrived (bounded: 30 s)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(data)
        received = b""
        while True:
            part = sock.recv(65536)
            if not part:
                return received
            received += part
            head, sep, body = received.partition(b"\r\n\r\n")
            length = next((int(v) for k, v in _headers(head) if k == b"content-length"), None)
            if sep and length is not None and len(body) >= length and not hold:
                return received


def _headers(head: bytes) -> list[tuple[bytes, bytes]]:
    lines = head.split(b"\r\n")[1:]
    return [(k.strip().lower(), v.strip()) for k, _, v in (line.partition(b":") for line in lines)]


def chat(http: httpx.Client, prompt: str, stream: bool = False, **extra: Any) -> httpx.Response:
    body = {"model": "demo", "messages": [{"role": "user", "content": prompt}], "stream": stream, **extra}
    return http.post("/v1/chat/completions", json=body)


# -- 4: auth before the body, and a body timeout for everyone ----------------------------------


def test_without_a_key_the_401_comes_before_the_body(env: dict[str, str], gateway_process: Any) -> None:
    gateway = gateway_process({**env, "PROVIDER_CORE_API_KEYS": KEY, "PROVIDER_CORE_BODY_TIMEOUT": "1"})
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000\r\nExpect: 100-continue\r\n\r\n"
    )
    reply = raw_exchange(gateway.url, head)  # the body is never sent
    assert reply.startswith(b"HTTP/1.1 401 ")
    stalled = head.replace(b"Expect: 100-continue\r\n", b"") + b'{"model": "demo", '
    reply = raw_exchange(gateway.url, stalled)  # a few bytes, then nothing: cut by the body timeout
    assert reply.startswith(b"HTTP/1.1 401 ") and b"connection: close" in reply.lower()


def test_unauthenticated_bodies_are_never_kept(env: dict[str, str], gateway_process: Any) -> None:
    """Forty clients without a key each send 990 kB of a 1 MB body and stall: the gateway
    discards what arrives instead of holding it (40 MB in all), so its memory barely moves."""
    gateway = gateway_process({**env, "PROVIDER_CORE_API_KEYS": KEY, "PROVIDER_CORE_BODY_TIMEOUT": "60"})
    host, port = gateway.url.removeprefix("http://").rsplit(":", 1)
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000\r\n\r\n"
    )
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        assert http.get("/healthz").status_code == 200
    before = gateway.rss
    held = []
    try:
        for _ in range(40):
            sock = socket.create_connection((host, int(port)), timeout=30)
            sock.sendall(head + b"x" * 990_000)  # returns once the server has taken most of it
            held.append(sock)
        assert gateway.rss - before < 15 * 1024 * 1024
    finally:
        for sock in held:
            sock.close()


def test_a_stalled_body_gets_a_408_even_with_a_key(env: dict[str, str], gateway_process: Any) -> None:
    gateway = gateway_process({**env, "PROVIDER_CORE_API_KEYS": KEY, "PROVIDER_CORE_BODY_TIMEOUT": "1"})
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Length: 500\r\n\r\n{"
    )
    reply = raw_exchange(gateway.url, head)
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert b"request_timeout" in reply


# -- 5: a keyless gateway on loopback is not reachable from a web page ------------------------


def test_a_keyless_gateway_serves_loopback_hosts_and_json_only(env: dict[str, str], gateway_process: Any) -> None:
    gateway = gateway_process(env, "--allow-host", "gateway.internal")
    port = gateway.url.rsplit(":", 1)[1]
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        simple = http.post("/v1/chat/completions", content=b'{"model": "demo"}', headers={"content-type": "text/plain"})
        assert simple.status_code == 415 and simple.json()["error"]["code"] == "unsupported_media_type"
        form = http.post("/v1/chat/completions", data={"model": "demo"})
        assert form.status_code == 415
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.nip.example"):
            foreign = http.get("/v1/models", headers={"host": host})
            assert foreign.status_code == 421, host
            assert foreign.json()["error"]["code"] == "host_not_allowed"
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "gateway.internal"):
            assert http.get("/v1/models", headers={"host": host}).status_code == 200, host
        assert http.get("/healthz", headers={"host": "10.0.0.5:8080"}).status_code == 200
        assert chat(http, "hello").json()["choices"][0]["message"]["content"] == "hello"


# -- 7, 8, 9: hostile JSON and argument types --------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b'{"model": "demo", "messages": [], "\\ud800": 1}', None),
        (b'{"model": "demo", "messages": [{"role": "user", "content": "a\\udc00"}]}', None),
        (b"[" * 1000 + b"]" * 1000, None),
        (b'{"model": "demo", "messages": [{"role": "user", "content": "x"}], "tools": 0}', "tools"),
        (b'{"model": "demo", "messages": [{"role": "user", "content": "x"}], "stop": 0}', "stop"),
        (b'{"model": "demo", "messages": [{"role": "user", "content": "x"}], "logprobs": 0}', "logprobs"),
        (b'{"model": "demo", "messages": [{"role": "user", "content": "x"}], "max_tokens": "lots"}', "max_tokens"),
        (b'{"model": "demo", "messages": [{"role": "user", "content": "x"}], "max_tokens": true}', "max_tokens"),
    ],
    ids=["surrogate-key", "surrogate-content", "nested-1000", "tools-0", "stop-0", "logprobs-0", "lots", "true"],
)
def test_hostile_json_is_a_400_in_the_openai_shape(
    env: dict[str, str], gateway_process: Any, body: bytes, param: str | None
) -> None:
    gateway = gateway_process(env)
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        response = http.post("/v1/chat/completions", content=body, headers=JSON)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]["param"] == param
        assert http.get("/healthz").status_code == 200
    gateway.stop()
    assert "Traceback" not in gateway.log and "RecursionError" not in gateway.log


def test_a_lone_surrogate_in_a_reply_is_replaced_and_the_text_before_it_kept(
    env: dict[str, str], gateway_process: Any
) -> None:
    gateway = gateway_process(env)
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        whole = chat(http, "surrogate")
        assert whole.status_code == 200
        assert whole.json()["choices"][0]["message"]["content"] == "good x\ufffdy"
        streamed = chat(http, "surrogate", stream=True)
        assert streamed.status_code == 200
        texts = [
            json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
            for line in streamed.text.splitlines()
            if line.startswith("data: {")
        ]
        assert "".join(texts) == "good x\ufffdy"
    for args in (("chat", "-m", "demo", "surrogate"), ("chat", "-m", "demo", "--no-stream", "surrogate")):
        result = run_cli(*args, env=env)
        assert result.code == 0, result.stderr
        assert result.stdout == "good x\ufffdy\n"


# -- 10: a keys variable of separators only ----------------------------------------------------


def test_a_keys_variable_of_separators_refuses_to_start(env: dict[str, str]) -> None:
    for value in (",", " , ,"):
        result = run_cli("serve", "--port", "0", env={**env, "PROVIDER_CORE_API_KEYS": value}, timeout=30)
        assert result.code == 2
        assert result.error_lines == [
            "error: PROVIDER_CORE_API_KEYS is set but holds no key (only separators): refusing to serve "
            "without authentication; give at least one key, or unset it"
        ]


# -- 12: clients that leave before the first chunk ------------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_clients_leaving_before_the_reply_release_their_upstream_connection(
    env: dict[str, str], upstream: Upstream, gateway_process: Any, stream: bool
) -> None:
    gateway = gateway_process(env)
    host, port = gateway.url.removeprefix("http://").rsplit(":", 1)
    body = json.dumps({"model": "demo", "messages": [{"role": "user", "content": "slow"}], "stream": stream}).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    upstream_port = int(upstream.server.url.rsplit(":", 1)[1])
    for _ in range(20):
        with socket.create_connection((host, int(port)), timeout=30) as client:
            client.sendall(request)
            assert upstream.slow_started.acquire(timeout=30)  # the gateway is waiting upstream now
    # every client has left; each upstream request is cut within moments, not after 120 s
    assert wait_until(lambda: established(upstream_port) == 0, timeout=15), established(upstream_port)
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        assert chat(http, "still here").json()["choices"][0]["message"]["content"] == "still here"


# -- 14: the access log, a flood of idle connections, a failed plugin's model ------------------


def test_the_access_log_keeps_no_query_string(env: dict[str, str], gateway_process: Any) -> None:
    gateway = gateway_process(env)
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        assert http.get("/v1/models", params={"api_key": "sk-query-string-9876543210"}).status_code == 200
    gateway.stop()
    assert "GET /v1/models?[redacted]" in gateway.log
    assert "sk-query-string-9876543210" not in gateway.log


def test_a_flood_of_idle_connections_neither_floods_the_log_nor_stops_the_gateway(
    env: dict[str, str], gateway_process: Any
) -> None:
    """1,100 connections that send half a request head, against an open-file limit of 1,024:
    the ones over the cap get a 503 at once, the rest are closed by the header deadline, the
    log stays short, and the gateway answers again once they are gone."""
    gateway = gateway_process({**env, "PROVIDER_CORE_HEADER_TIMEOUT": "2"}, open_files=1024)
    host, port = gateway.url.removeprefix("http://").rsplit(":", 1)
    held = []
    try:
        for _ in range(1100):
            sock = socket.create_connection((host, int(port)), timeout=30)
            sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            held.append(sock)

        def answered() -> bool:
            try:
                with httpx.Client(base_url=gateway.url, timeout=5) as http:
                    return http.get("/healthz").status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_until(answered, timeout=30)
    finally:
        for sock in held:
            sock.close()
    gateway.stop()
    assert len(gateway.lines) < 100, "\n".join(gateway.lines[:40])


def test_chat_for_a_model_of_a_failed_plugin_points_at_plugins(plugin_env: dict[str, str]) -> None:
    env = {**plugin_env, "PROVIDER_CORE_PLUGINS": "pcfix_importfail,relfix_backup"}
    result = run_cli("chat", "-m", "fix-import-model", "hi", env=env)
    assert result.code == 2
    [line] = result.error_lines
    assert "'fix-import-model'" in line
    assert line.endswith("plugin 'pcfix_importfail' failed to load and may serve it: see 'provider-core plugins'")
