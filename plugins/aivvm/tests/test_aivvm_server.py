"""The loopback Aivvm server: protocol checks (400 with a reason), replies, scripts, its CLI.
Requests here are made with the standard library, not with the plugin, so a bug in the
plugin cannot hide a bug in the server."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from typing import Any

import pytest
from provider_aivvm import Aivvm
from provider_aivvm.server import AivvmServer, check_body

VALID = {
    "model": {"id": "gpt-4", "name": "GPT-4"},
    "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "Echo me"}],
    "key": "",
    "prompt": "p",
    "temperature": 0.7,
}


def post(url: str, body: Any, path: str = "/api/chat", method: str = "POST", content_type: str = "application/json"):
    """(status, body text, headers) of one request made with http.client."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": content_type})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8"), dict(response.getheaders())
    finally:
        conn.close()


def with_(**changes: Any) -> dict[str, Any]:
    body = json.loads(json.dumps(VALID))
    for key, value in changes.items():
        if value is ...:
            del body[key]
        else:
            body[key] = value
    return body


def test_valid_request_gets_an_echo_in_chunks(aivvm_server) -> None:
    status, text, headers = post(aivvm_server.url, VALID)
    assert (status, text) == (200, "Echo me")
    assert headers["Transfer-Encoding"] == "chunked"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (with_(key=...), "missing field(s): key"),
        (with_(extra=1), "unexpected field(s): extra"),
        (with_(model="gpt-4"), "model must be an object"),
        (with_(model={"id": "gpt-5", "name": "GPT-5"}), "model.id 'gpt-5' is not one of"),
        (with_(model={"id": "gpt-4", "name": "GPT-3.5"}), "model.name must be 'GPT-4'"),
        (with_(messages=[]), "messages must be a non-empty list"),
        (with_(messages=[{"role": "user"}]), "messages[0] must be an object"),
        (with_(messages=[{"role": "robot", "content": "x"}]), "messages[0].role must be one of"),
        (with_(messages=[{"role": "user", "content": 1}]), "messages[0].content must be a string"),
        (with_(key=None), "key must be a string"),
        (with_(prompt=None), "prompt must be a string"),
        (with_(temperature=3), "temperature must be a number in [0, 2]"),
        (with_(temperature=True), "temperature must be a number in [0, 2]"),
        (with_(temperature="0.7"), "temperature must be a number in [0, 2]"),
        ([VALID], "body must be a JSON object"),
    ],
)
def test_protocol_violations_get_400_with_the_reason(aivvm_server, body, reason: str) -> None:
    assert check_body(body) is not None
    status, text, _ = post(aivvm_server.url, body)
    assert status == 400
    assert reason in text


def test_not_json(aivvm_server) -> None:
    status, text, _ = post(aivvm_server.url, b"{not json")
    assert (status, text) == (400, "body is not valid UTF-8 JSON")


def test_wrong_content_type(aivvm_server) -> None:
    status, text, _ = post(aivvm_server.url, VALID, content_type="text/plain")
    assert status == 400 and "content-type must be application/json" in text


def test_wrong_path_and_method(aivvm_server) -> None:
    assert post(aivvm_server.url, VALID, path="/v1/chat")[0] == 404
    status, _, headers = post(aivvm_server.url, VALID, method="PUT")
    assert status == 405 and headers["Allow"] == "POST"


def test_the_valid_body_passes_the_check() -> None:
    assert check_body(VALID) is None


def test_a_scripted_reply_waits_for_a_valid_request(aivvm_server) -> None:
    aivvm_server.script("scripted")
    assert post(aivvm_server.url, with_(key=...))[0] == 400
    assert post(aivvm_server.url, VALID)[1] == "scripted"
    assert post(aivvm_server.url, VALID)[1] == "Echo me"


def test_scripts_are_answered_in_order(aivvm_server) -> None:
    aivvm_server.script("one")
    aivvm_server.script(status=503)
    aivvm_server.script(body="three")
    assert post(aivvm_server.url, VALID)[:2] == (200, "one")
    status, text, _ = post(aivvm_server.url, VALID)
    assert status == 503 and "503" in text
    assert post(aivvm_server.url, VALID)[:2] == (200, "three")


def test_fixed_reply_and_chunk_size() -> None:
    with AivvmServer(reply="Ünïcödé reply", chunk_size=1) as server:
        chunks = list(Aivvm.create_completion("gpt-4", VALID["messages"], True, base_url=server.url))
    assert "".join(chunks) == "Ünïcödé reply"
    assert len(chunks) == len("Ünïcödé reply")


def test_no_user_message_echoes_nothing(aivvm_server) -> None:
    status, text, _ = post(aivvm_server.url, with_(messages=[{"role": "assistant", "content": "hi"}]))
    assert (status, text) == (200, "")


def test_bad_chunk_size() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        AivvmServer(chunk_size=0)


# -- python -m provider_aivvm.server ------------------------------------------------------


def test_help_says_it_is_not_the_real_service() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "provider_aivvm.server", "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0
    assert "NOT the real service" in out.stdout


def test_bad_arguments_are_one_line() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "provider_aivvm.server", "--chunk-size", "0"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    assert out.stderr.startswith("error:") and out.stderr.count("\n") == 1


def test_serves_until_interrupted() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "provider_aivvm.server", "--port", "0", "--reply", "from the CLI", "--chunk-size", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        first = proc.stdout.readline()
        assert "NOT the real service" in first
        url = first.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:")
        assert "".join(Aivvm.create_completion("gpt-4", VALID["messages"], True, base_url=url)) == "from the CLI"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def test_port_in_use_is_one_line(aivvm_server) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "provider_aivvm.server", "--port", str(aivvm_server.port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert out.stderr.startswith("error: cannot listen on 127.0.0.1:") and out.stderr.count("\n") == 1
