"""A fast loopback HTTP server for the streaming benchmarks, run as its own process.

``python -m bench.server`` listens on 127.0.0.1 (a free port), prints the port, and serves
until its standard input closes (so it ends with the benchmark that started it, even if
that one dies) or :data:`MAX_LIFETIME` passes. It speaks enough of the Aivvm protocol for
the provider to talk to it: any ``POST .../api/chat`` is answered with plain UTF-8 text,
``Transfer-Encoding: chunked``, ``Content-Type: text/plain; charset=utf-8``.

What it sends is chosen by the path before ``/api/chat`` (a provider's ``base_url`` can
carry it): ``/stream/N`` sends :func:`text_block` N times, in HTTP chunks of
:data:`CHUNK` bytes that cut characters anywhere (``/stream/N/cK``: chunks of K bytes, as
a token-by-token server sends); ``/small`` sends :data:`SMALL` once. And for the OpenAI
plugin, ``POST .../toolcall/N/chat/completions`` answers with one streamed tool call
whose JSON arguments (:func:`tool_arguments`) arrive in N server-sent events, as OpenAI
sends them, then the finish reason, the usage and ``[DONE]``; ``POST .../echo/D/chat/completions``
streams the last user message back in pieces of :data:`ECHO_PIECE` characters, one
server-sent event (and one HTTP chunk) each, D milliseconds apart (a model's token pace:
:func:`echo_stream`), and ``GET .../echo/D/models`` lists :data:`MODELS`.
Nothing is held in memory but one pre-framed block, so a 1 GB reply costs the server
no memory and almost no CPU: the time measured is the client's.
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = [
    "BLOCK",
    "CHUNK",
    "ECHO_PIECE",
    "MODELS",
    "SMALL",
    "BenchHandler",
    "blocks_for",
    "echo_stream",
    "serve",
    "text_block",
    "tool_arguments",
    "tool_call_stream",
]

#: Bytes per HTTP chunk of a long reply (not a multiple of any character's size).
CHUNK = 65_536
BLOCK_BYTES = 262_144
SMALL = "Привет, мир! 你好, 世界! 👋🌍 The reply starts here."
MAX_LIFETIME = 3 * 3600.0

_WORDS = (  # noqa: SIM905 - a sentence reads better than a list of 41 strings
    "привет мир сообщение поток текст ответ модель запрос быстро точно "
    "你好 世界 流式 文本 回复 模型 请求 快速 准确 字符 "
    "😀 🚀 👋🏽 🇺🇦 🧪 ✨ 👨\u200d👩\u200d👧 "
    "the quick brown fox stream text 12345 , . ! ? — «» …"
).split()


def text_block(size: int = BLOCK_BYTES) -> str:
    """Deterministic mixed Cyrillic / CJK / emoji / ASCII text of at most ``size`` UTF-8 bytes."""
    rng = random.Random(20_231)
    parts: list[str] = []
    total = 0
    while True:
        word = rng.choice(_WORDS) + ("\n" if rng.random() < 0.08 else " ")
        n = len(word.encode())
        if total + n > size:
            break
        parts.append(word)
        total += n
    return "".join(parts)


BLOCK = text_block()
BLOCK_UTF8 = BLOCK.encode()


def blocks_for(megabytes: float) -> int:
    """How many blocks make about ``megabytes`` MiB."""
    return max(1, round(megabytes * 2**20 / len(BLOCK_UTF8)))


def _frame(data: bytes, size: int) -> bytes:
    out = bytearray()
    for i in range(0, len(data), size):
        piece = data[i : i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return bytes(out)


_FRAMED_SMALL = _frame(SMALL.encode(), CHUNK)
#: The model ids ``GET .../echo/D/models`` lists.
MODELS = ("bench-echo",)
_TOOLCALL = re.compile(r"/toolcall/(\d+)/chat/completions$")
_TOOL_STREAMS: dict[int, bytes] = {}


def tool_arguments(pieces: int) -> str:
    """The arguments of the benchmark's tool call: a JSON object of about 16 bytes a piece."""
    return json.dumps({"items": [f"item-{i:06d}" for i in range(pieces)]})


def _event(payload: object) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def tool_call_stream(pieces: int) -> bytes:
    """The server-sent events of one streamed tool call in ``pieces`` argument deltas."""
    arguments = tool_arguments(pieces)
    size = -(-len(arguments) // pieces)
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "bench-tools"}

    def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
        return _event({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    first = {"index": 0, "id": "call_bench", "type": "function", "function": {"name": "lookup", "arguments": ""}}
    out = [chunk({"role": "assistant", "content": None, "tool_calls": [first]})]
    for at in range(0, len(arguments), size):
        out.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[at : at + size]}}]}))
    out.append(chunk({}, "tool_calls"))
    out.append(
        _event(
            {
                **head,
                "choices": [],
                "usage": {"prompt_tokens": 9, "completion_tokens": pieces, "total_tokens": 9 + pieces},
            }
        )
    )
    out.append(b"data: [DONE]\n\n")
    return b"".join(_frame(event, CHUNK) for event in out)  # one HTTP chunk per event, as a server flushes them


_ECHO = re.compile(r"/echo/(\d+)/(chat/completions|models)$")
#: Characters per event of an echoed reply (about two tokens).
ECHO_PIECE = 8


def echo_stream(text: str, model: str) -> list[bytes]:
    """The HTTP chunks (framed) of an OpenAI streamed reply echoing ``text``: a role event,
    one event per :data:`ECHO_PIECE` characters, the finish reason with ``[DONE]``."""
    head = {"id": "chatcmpl-echo", "object": "chat.completion.chunk", "created": 0, "model": model}

    def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
        return _event({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": text[i : i + ECHO_PIECE]}) for i in range(0, len(text), ECHO_PIECE)]
    events.append(chunk({}, "stop") + b"data: [DONE]\n\n")
    return [_frame(event, CHUNK) for event in events]


_STREAM = re.compile(r"/stream/(\d+)(?:/c(\d+))?(?:/|$)")
_FRAMED: dict[int, bytes] = {CHUNK: _frame(BLOCK_UTF8, CHUNK)}


def _framed_block(chunk: int) -> bytes:
    framed = _FRAMED.get(chunk)
    if framed is None:
        framed = _FRAMED[chunk] = _frame(BLOCK_UTF8, chunk)
    return framed


class BenchHandler(BaseHTTPRequestHandler):
    """The HTTP side every benchmark server shares: keep-alive, no Nagle delay, quiet, and
    :meth:`send_chunked` for a pre-framed chunked body. Subclasses define ``do_POST``."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # As production servers do: without it, Nagle holds the first body bytes back
        # until the client's delayed ACK of the headers (40 ms on Linux).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        try:
            super().handle()
        except ConnectionError:  # a client that closed a connection it was not done with
            pass

    def read_body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def send_chunked(self, content_type: str, *framed: bytes) -> None:
        """A 200 with ``framed`` (HTTP chunks already framed; the last chunk is added)."""
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        try:
            for piece in framed:
                self.wfile.write(piece)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Handler(BenchHandler):
    def do_POST(self) -> None:
        body = self.read_body()
        path = self.path.split("?", 1)[0]
        echo = _ECHO.search(path)
        if echo and echo.group(2) != "models":
            self._send_echo(body, int(echo.group(1)) / 1000)
            return
        tool = _TOOLCALL.search(path)
        if tool:
            pieces = int(tool.group(1))
            framed = _TOOL_STREAMS.get(pieces)
            if framed is None:
                framed = _TOOL_STREAMS[pieces] = tool_call_stream(pieces)
            self.send_chunked("text/event-stream", framed)
            return
        match = _STREAM.search(path)
        if not path.endswith("/api/chat") or not (match or "/small/" in path):
            self.send_error(404)
            return
        if match:
            framed = _framed_block(max(1, int(match.group(2) or CHUNK)))
            self.send_chunked("text/plain; charset=utf-8", *(framed for _ in range(int(match.group(1)))))
        else:
            self.send_chunked("text/plain; charset=utf-8", _FRAMED_SMALL)

    def do_GET(self) -> None:
        if not _ECHO.search(self.path.split("?", 1)[0]):
            self.send_error(404)
            return
        data = json.dumps(
            {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "bench"} for m in MODELS]}
        )
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data.encode())

    def _send_echo(self, body: bytes, pause: float) -> None:
        request = json.loads(body or b"{}")
        users = [m.get("content") for m in request.get("messages") or [] if m.get("role") == "user"]
        chunks = echo_stream(str(users[-1] if users else ""), str(request.get("model", "")))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        try:
            for i, framed in enumerate(chunks):
                if pause and 0 < i < len(chunks) - 1:
                    time.sleep(pause)  # the model's pace between tokens
                self.wfile.write(framed)
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 64 clients connect at once in the concurrency benchmark


def serve(handler: type[BaseHTTPRequestHandler]) -> None:
    """Serve ``handler`` on 127.0.0.1 and a free port (printed), until stdin closes or
    :data:`MAX_LIFETIME` passes: the life of every benchmark server process."""
    server = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    timer = threading.Timer(MAX_LIFETIME, lambda: os._exit(0))
    timer.daemon = True
    timer.start()
    sys.stdin.read()  # returns when the parent closes our stdin or dies
    os._exit(0)


def main() -> None:
    serve(_Handler)


if __name__ == "__main__":
    main()
