"""provider_core.testing.server, the generic scripted loopback server the Aivvm server is
built on (tested here because this plugin is its first user). Checked with raw sockets and
http.client, so the wire format itself is what is asserted."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import threading
import time

import pytest

from provider_core.testing.server import LoopbackServer, Reply, free_port, refused_url


def raw_exchange(server: LoopbackServer, request: bytes) -> bytes:
    """Send raw bytes, read until the server closes the connection, return what came back."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while True:
            try:
                part = sock.recv(65536)
            except ConnectionResetError:
                return data + b"<RST>"
            if not part:
                return data
            data += part


def simple_get(path: str = "/x") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode()


def test_chunked_framing_keeps_every_chunk_boundary() -> None:
    with LoopbackServer() as server:
        server.enqueue(Reply(body=[b"ab", "Ж", b"", b"c"], headers={"X-Test": "1"}))
        data = raw_exchange(server, simple_get())
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"\r\nTransfer-Encoding: chunked" in head and b"\r\nX-Test: 1" in head
    assert b"Content-Type: text/plain; charset=utf-8" in head
    assert body == b"2\r\nab\r\n2\r\n\xd0\x96\r\n1\r\nc\r\n0\r\n\r\n"


def test_length_framing() -> None:
    with LoopbackServer() as server:
        server.enqueue(Reply(201, body=["abc", "de"], framing="length", headers={"Content-Type": "text/x"}))
        data = raw_exchange(server, simple_get())
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 201 ") and b"Content-Length: 5" in head and b"Content-Type: text/x" in head
    assert b"Transfer-Encoding" not in head
    assert body == b"abcde"


def test_close_framing() -> None:
    with LoopbackServer() as server:
        server.enqueue(Reply(body="until the end", framing="close"))
        data = raw_exchange(server, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")  # keep-alive asked, close given
    head, body = data.split(b"\r\n\r\n", 1)
    assert b"Connection: close" in head and b"Content-Length" not in head and b"Transfer-Encoding" not in head
    assert body == b"until the end"


def test_reset_after_n_body_bytes() -> None:
    with LoopbackServer() as server:
        server.enqueue(Reply(body=["abc", "defgh"], framing="length", reset_after=5, delay_between=0.05))
        data = raw_exchange(server, simple_get())
        (request,) = server.wait_for_requests(1)
    assert data.endswith(b"\r\n\r\nabcde<RST>")
    assert request.outcome == "reset" and request.body_bytes_sent == 5


def test_close_after_n_body_bytes() -> None:
    with LoopbackServer() as server:
        server.enqueue(Reply(body="abcdefgh", close_after=3))
        data = raw_exchange(server, simple_get())
        (request,) = server.wait_for_requests(1)
    assert data.endswith(b"\r\n\r\n3\r\nabc\r\n")
    assert request.outcome == "closed"


def test_records_requests() -> None:
    with LoopbackServer() as server:
        server.enqueue(Reply(body="ok"), Reply(body="second"))
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        conn.request("POST", "/api/x?q=1", body=b'{"a": [1, "\xc3\xa9"]}', headers={"X-Mixed-Case": "v"})
        assert conn.getresponse().read() == b"ok"
        conn.request("PUT", "/chunked", body=iter([b"he", b"llo"]), encode_chunked=True)
        assert conn.getresponse().read() == b"second"
        conn.close()
        first, second = server.wait_for_requests(2)
    assert (first.method, first.path) == ("POST", "/api/x?q=1")
    assert first.json == {"a": [1, "é"]}
    assert first.headers["x-mixed-case"] == "v"
    assert ("X-Mixed-Case", "v") in first.raw_headers
    assert first.outcome == "complete" and first.done.is_set()
    assert (second.method, second.body, second.json, second.text) == ("PUT", b"hello", None, "hello")
    assert first.connection == second.connection == 1 and server.connections == 1


def test_validator_reason_is_a_400() -> None:
    def validator(request):
        return None if request.path == "/ok" else f"path {request.path} is wrong"

    with LoopbackServer(lambda r: Reply(body="fine"), validator=validator) as server:
        data = raw_exchange(server, simple_get("/bad"))
        assert data.startswith(b"HTTP/1.1 400 Bad Request") and data.endswith(b"path /bad is wrong")
        assert raw_exchange(server, simple_get("/ok")).endswith(b"0\r\n\r\n")


def test_validator_can_answer_with_a_reply() -> None:
    with LoopbackServer(validator=lambda r: Reply(418, body="teapot", framing="length")) as server:
        assert raw_exchange(server, simple_get()).startswith(b"HTTP/1.1 418 ")


def test_unscripted_request_is_a_404() -> None:
    with LoopbackServer() as server:
        data = raw_exchange(server, simple_get("/nothing"))
    assert data.startswith(b"HTTP/1.1 404 ") and data.endswith(b"no reply scripted for GET /nothing\n")


def test_a_handler_that_raises_is_a_500_and_recorded() -> None:
    def handler(request):
        raise RuntimeError("bug in the test")

    with LoopbackServer(handler) as server:
        data = raw_exchange(server, simple_get())
    assert data.startswith(b"HTTP/1.1 500 ") and b"RuntimeError: bug in the test" in data
    assert [type(e) for e in server.errors] == [RuntimeError]


def test_delay_before_the_first_byte_and_a_prompt_stop() -> None:
    server = LoopbackServer().start()
    server.enqueue(Reply(body="late", delay_before=60))
    result: list[bytes] = []
    thread = threading.Thread(target=lambda: result.append(raw_exchange(server, simple_get())), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not server.requests[0].done.is_set()  # still waiting
    started = time.monotonic()
    server.stop()
    thread.join(10)
    assert time.monotonic() - started < 10  # generous: the 60 s delay was cut short
    assert server.requests[0].outcome == "stopped"
    assert result == [b""] or result == [b"<RST>"]


def test_reply_validation() -> None:
    with pytest.raises(ValueError, match="framing"):
        Reply(framing="gzip")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not both"):
        Reply(reset_after=1, close_after=1)
    with pytest.raises(ValueError, match="negative"):
        Reply(delay_before=-1)
    with pytest.raises(ValueError, match="at least 1"):
        Reply.text("x", chunk_size=0)


def test_reply_text_cuts_bytes() -> None:
    assert Reply.text("aЖb", chunk_size=2).chunks() == [b"a\xd0", b"\x96b"]
    assert Reply.text("aЖb").chunks() == ["aЖb".encode()]
    assert Reply.text("").chunks() == []


def test_url_and_ports() -> None:
    with LoopbackServer() as server:
        assert server.url == f"http://127.0.0.1:{server.port}" and server.port > 0
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", int(refused_url().rsplit(":", 1)[1])), timeout=5).close()
    assert 0 < free_port() < 65536


def test_start_twice_is_an_error_and_stop_is_idempotent() -> None:
    server = LoopbackServer().start()
    with pytest.raises(RuntimeError):
        server.start()
    server.stop()
    server.stop()


def test_import_is_light() -> None:
    """Nothing but the standard library (the package ``provider_core.testing`` itself imports
    pytest, which is there whenever the server is used by tests)."""
    code = (
        "import sys, provider_core.testing.server; "
        "print(sorted(m for m in ('requests', 'urllib3', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"


def test_a_hold_that_times_out_is_recorded_before_the_rest_is_sent() -> None:
    """The contract suite tells a provider that waits for the whole reply by this flag: it
    must be true by the time such a client has the end of the body (``done`` may come a
    moment later, which raced under load)."""
    gate = threading.Event()  # never set: the hold ends by its timeout
    with LoopbackServer() as server:
        server.enqueue(Reply(body=["first ", "last"], hold=gate, hold_timeout=0.01))
        data = raw_exchange(server, simple_get())
        assert data.endswith(b"0\r\n\r\n") and server.requests[0].hold_expired
        opened = threading.Event()
        opened.set()
        server.enqueue(Reply(body=["first ", "last"], hold=opened, hold_timeout=30))
        raw_exchange(server, simple_get())
        assert not server.requests[1].hold_expired
