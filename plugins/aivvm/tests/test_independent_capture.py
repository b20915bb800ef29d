"""A request made by the plugin, captured by a plain ``http.server`` handler written here from
DESIGN.md alone (none of the plugin's or provider-core's server code), has exactly the
documented body fields and headers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from provider_aivvm import Aivvm

# From DESIGN.md, "The Aivvm wire protocol", written out by hand.
DOCUMENTED_FIELDS = {"model", "messages", "key", "prompt", "temperature"}
DOCUMENTED_PROMPT = (
    "You are ChatGPT, a large language model trained by OpenAI. Follow the user's instructions carefully. "
    "Respond using markdown."
)


class Capture(BaseHTTPRequestHandler):
    """Stores what arrived and answers with a fixed text."""

    captured: list[dict[str, Any]] = []  # noqa: RUF012 - reset per server below

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.captured.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": self.rfile.read(length),
            }
        )
        reply = "Bonjour ✓".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def capture() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    handler = type("CaptureHandler", (Capture,), {"captured": []})
    httpd = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler.captured
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_body_and_headers_as_documented(capture) -> None:
    url, captured = capture
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Say bonjour"},
    ]
    text = "".join(Aivvm.create_completion("gpt-4-32k", messages, True, base_url=url, timeout=10))
    assert text == "Bonjour ✓"
    (request,) = captured
    assert request["method"] == "POST"
    assert request["path"] == "/api/chat"
    body = json.loads(request["body"].decode("utf-8"))
    assert set(body) == DOCUMENTED_FIELDS
    assert body == {
        "model": {"id": "gpt-4-32k", "name": "GPT-4-32K"},
        "messages": messages,
        "key": "",
        "prompt": DOCUMENTED_PROMPT,
        "temperature": 0.7,
    }
    headers = request["headers"]
    assert headers["accept"] == "text/event-stream"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("Mozilla/5.0")
    assert headers["origin"] == url
    assert headers["referer"] == url + "/"


def test_keywords_as_documented(capture) -> None:
    url, captured = capture
    messages = [{"role": "user", "content": "Say bonjour"}]
    text = Aivvm.create_completion(
        "", messages, False, base_url=url, system_message="You speak French.", temperature=0.2, timeout=(3, 5)
    )
    assert list(text) == ["Bonjour ✓"]
    body = json.loads(captured[0]["body"])
    assert body == {
        "model": {"id": "gpt-3.5-turbo", "name": "GPT-3.5"},
        "messages": messages,
        "key": "",
        "prompt": "You speak French.",
        "temperature": 0.2,
    }
