"""Security: bearer auth, the body size limit (a 413 the client can read), CORS, no secrets."""

from __future__ import annotations

import json
import logging
import socket

import httpx
import openai
import pytest

from provider_core.gateway.config import GatewayConfig

SECOND_KEY = "second-key-abcdef"
JSON = {"content-type": "application/json"}


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def secured(helpers):
    config = GatewayConfig(api_keys=(helpers.API_KEY, SECOND_KEY))
    with helpers.running(config=config) as server:
        yield server


@pytest.fixture(scope="module")
def small_limit(helpers):
    with helpers.running(config=GatewayConfig(max_body_bytes=2000, drain_bytes=100_000)) as server:
        yield server


# -- auth ------------------------------------------------------------------------------------


def test_auth_refuses_a_missing_or_wrong_key_with_401(secured, helpers):
    with helpers.openai_client(secured, api_key="sk-wrong") as client, pytest.raises(openai.AuthenticationError) as e:
        client.models.list()
    assert e.value.status_code == 401
    assert e.value.body["code"] == "invalid_api_key"
    assert e.value.response.headers["www-authenticate"] == "Bearer"
    assert "sk-wrong" not in e.value.response.text
    with httpx.Client(timeout=10) as http:
        for headers in ({}, {"authorization": helpers.API_KEY}, {"authorization": f"Basic {helpers.API_KEY}"}):
            for method, path in (("GET", "/v1/models"), ("GET", "/v1/providers"), ("POST", "/v1/chat/completions")):
                response = http.request(method, secured.url + path, headers=headers, json={})
                assert response.status_code == 401, (method, path, headers)


def test_auth_accepts_each_configured_key(secured, helpers):
    for key in (helpers.API_KEY, SECOND_KEY):
        with helpers.openai_client(secured, api_key=key) as client:
            assert "echo-1" in {m.id for m in client.models.list()}
            reply = client.chat.completions.create(model="echo-1", messages=user("ok"), stream=True)
            assert "".join(c.choices[0].delta.content or "" for c in reply) == "ok"


def test_healthz_stays_open_when_auth_is_on(secured):
    with httpx.Client(timeout=10) as http:
        response = http.get(secured.url + "/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_unauthenticated_large_body_still_reads_its_401(secured):
    body = json.dumps({"model": "echo-1", "messages": user("x" * 900_000)}).encode()
    with httpx.Client(timeout=30) as http:
        response = http.post(secured.url + "/v1/chat/completions", content=body, headers=JSON)
    assert response.status_code == 401


def test_no_key_or_prompt_in_logs(helpers, caplog):
    caplog.set_level(logging.DEBUG)
    config = GatewayConfig(api_keys=(helpers.API_KEY,))
    with helpers.running(config=config, access_log=True) as server:
        with helpers.openai_client(server, api_key=helpers.API_KEY) as client:
            client.chat.completions.create(model="echo-1", messages=user("secret-prompt-text"))
            with pytest.raises(openai.RateLimitError):
                client.chat.completions.create(model="limited-1", messages=user("x"))
        with (
            helpers.openai_client(server, api_key="sk-guessed-key") as client,
            pytest.raises(openai.AuthenticationError),
        ):
            client.models.list()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/v1/chat/completions" in logged  # the access log ran, so the check below means something
    for secret in (helpers.API_KEY, "sk-guessed-key", "secret-prompt-text"):
        assert secret not in logged
    assert helpers.API_KEY not in repr(config)


# -- body limit ------------------------------------------------------------------------------


def test_oversized_body_is_413_readable_by_the_openai_client(gateway, helpers):
    with helpers.openai_client(gateway) as client, pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="echo-1", messages=user("x" * (1024 * 1024 + 10)))
    assert info.value.status_code == 413
    assert info.value.body["code"] == "request_too_large"
    assert "1,048,576-byte limit" in info.value.message


def test_oversized_body_is_413_readable_by_a_plain_http_client(gateway):
    """The stdlib client sends the whole body before reading: answering before draining
    gives it a reset or a broken pipe instead of the 413 (8 MB is over loopback's buffers)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    try:
        conn.request("POST", "/v1/chat/completions", body=b"x" * (8 * 1024 * 1024), headers=JSON)
        response = conn.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["error"]["code"] == "request_too_large"
    finally:
        conn.close()


def _post_sized(server, size: int, **kwargs) -> httpx.Response:
    prefix = b'{"model":"echo-1","messages":[{"role":"user","content":"'
    suffix = b'"}]}'
    body = prefix + b"x" * (size - len(prefix) - len(suffix)) + suffix
    assert len(body) == size
    with httpx.Client(timeout=30) as http:
        if kwargs.pop("chunked", False):
            return http.post(
                server.url + "/v1/chat/completions", content=iter([body[:1000], body[1000:]]), headers=JSON
            )
        return http.post(server.url + "/v1/chat/completions", content=body, headers=JSON)


def test_limit_is_exact(small_limit):
    assert _post_sized(small_limit, 2000).status_code == 200
    response = _post_sized(small_limit, 2001)
    assert response.status_code == 413
    assert "2,001 bytes" in response.json()["error"]["message"]


def test_limit_without_content_length_is_enforced_while_reading(small_limit):
    ok = _post_sized(small_limit, 2000, chunked=True)
    assert ok.request.headers.get("transfer-encoding") == "chunked"
    assert ok.status_code == 200
    response = _post_sized(small_limit, 50_000, chunked=True)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def _raw_exchange(server, head: bytes, body: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 10:
            part = sock.recv(65536)
            if not part:
                break
            data += part
        return data


def test_expect_100_continue_gets_the_413_before_sending_the_body(small_limit):
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5000000\r\nExpect: 100-continue\r\n\r\n"
    )
    reply = _raw_exchange(small_limit, head)  # the body is never sent
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in reply


def test_body_beyond_the_drain_bound_is_refused_at_once_and_closed(small_limit):
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5000000\r\n\r\n"
    )
    reply = _raw_exchange(small_limit, head)  # not waiting for 5 MB to be read and dropped
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert b"connection: close" in reply.lower()


def test_drained_413_keeps_the_connection_usable(small_limit):
    with httpx.Client(timeout=30) as http:
        big = http.post(small_limit.url + "/v1/chat/completions", content=b"x" * 50_000, headers=JSON)
        assert big.status_code == 413
        assert big.headers.get("connection") != "close"
        assert http.get(small_limit.url + "/healthz").status_code == 200


# -- CORS ------------------------------------------------------------------------------------


def test_cors_is_off_by_default(gateway):
    with httpx.Client(timeout=10) as http:
        got = http.get(gateway.url + "/v1/models", headers={"origin": "https://evil.example"})
        preflight = http.options(
            gateway.url + "/v1/chat/completions",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
    assert "access-control-allow-origin" not in got.headers
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code == 405


def test_cors_when_configured(helpers):
    config = GatewayConfig(cors_origins=("https://app.example",), api_keys=(helpers.API_KEY,))
    with helpers.running(config=config) as server, httpx.Client(timeout=10) as http:
        preflight = http.options(
            server.url + "/v1/chat/completions",
            headers={
                "origin": "https://app.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )
        other = http.options(
            server.url + "/v1/chat/completions",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
        got = http.get(
            server.url + "/v1/models",
            headers={"origin": "https://app.example", "authorization": f"Bearer {helpers.API_KEY}"},
        )
    assert preflight.status_code == 200  # answered before auth: browsers send no credentials here
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers
    assert got.headers["access-control-allow-origin"] == "https://app.example"
