"""A loopback server speaking the Aivvm protocol, for tests and demos. NOT the real service.

It accepts ``POST /api/chat`` exactly as chat.aivvm.com did, checks the request against
the protocol (a ``400`` whose body says what is wrong, a ``404`` / ``405`` for another path
or method), and streams back a reply: by default an *echo* of the last user message, or a
fixed text, cut into chunks of a chosen number of *bytes* (so multi-byte characters get
split between chunks, as on a real network). No model runs here; nothing leaves the machine.

In tests (``provider_core.testing.server.LoopbackServer`` underneath)::

    from provider_aivvm.server import AivvmServer

    with AivvmServer(chunk_size=3) as server:
        server.script("Привет 👋", chunk_size=1)              # the next reply, 1-byte chunks
        server.script(status=503, body="busy")                # the one after: an error
        server.script("partial...", reset_after=4)            # then: a TCP reset after 4 bytes
        text = "".join(Aivvm.create_completion("gpt-4", messages, True, base_url=server.url))
        server.requests[0].json                                # what the client sent

or with the pytest fixture ``aivvm_server`` (registered by this distribution's ``pytest11``
entry point). From a shell::

    python -m provider_aivvm.server --port 8765 --chunk-size 4 --delay 0.02
    AIVVM_BASE_URL=http://127.0.0.1:8765 provider-core chat --provider aivvm -m gpt-4 "Hello"
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from provider_core.testing.server import LoopbackServer, RecordedRequest, Reply, split_bytes

from .provider import CHAT_PATH, MODELS

__all__ = ["DEFAULT_CHUNK_SIZE", "AivvmServer", "check_body", "check_request", "echo_text", "main"]

#: Default bytes per chunk: small and odd, so multi-byte characters are split by default.
DEFAULT_CHUNK_SIZE = 7
_FIELDS = ("model", "messages", "key", "prompt", "temperature")
_ROLES = ("system", "user", "assistant", "tool")


def check_body(body: Any) -> str | None:
    """What is wrong with a parsed request body according to the Aivvm protocol, or ``None``.

    The body must be an object with exactly ``model`` (``{"id", "name"}`` with a known id
    and its display name), ``messages`` (a non-empty list of ``{"role", "content"}`` with
    string content), ``key`` (a string), ``prompt`` (a string) and ``temperature`` (a
    number in [0, 2]).
    """
    if not isinstance(body, dict):
        return f"body must be a JSON object, got {type(body).__name__}"
    missing = [f for f in _FIELDS if f not in body]
    if missing:
        return "missing field(s): " + ", ".join(missing)
    extra = sorted(set(body) - set(_FIELDS))
    if extra:
        return "unexpected field(s): " + ", ".join(extra)
    model = body["model"]
    if not isinstance(model, dict) or sorted(model) != ["id", "name"]:
        return 'model must be an object {"id": ..., "name": ...}'
    if model["id"] not in MODELS:
        return f"model.id {model['id']!r} is not one of: " + ", ".join(MODELS)
    if model["name"] != MODELS[model["id"]]:
        return f"model.name must be {MODELS[model['id']]!r} for {model['id']!r}, got {model['name']!r}"
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty list"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or sorted(message) != ["content", "role"]:
            return f'messages[{i}] must be an object {{"role": ..., "content": ...}}'
        if message["role"] not in _ROLES:
            return f"messages[{i}].role must be one of {', '.join(_ROLES)}, got {message['role']!r}"
        if not isinstance(message["content"], str):
            return f"messages[{i}].content must be a string"
    if not isinstance(body["key"], str):
        return "key must be a string"
    if not isinstance(body["prompt"], str):
        return "prompt must be a string"
    t = body["temperature"]
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or not 0 <= t <= 2:
        return f"temperature must be a number in [0, 2], got {t!r}"
    return None


def check_request(request: RecordedRequest) -> str | Reply | None:
    """The server's validator: 404 for another path, 405 for another method, 400 (with the
    reason) for a body or content type the protocol does not allow, ``None`` when valid."""
    path = request.path.split("?", 1)[0]
    if path != CHAT_PATH:
        return Reply(404, body=f"not found: {path} (this server only serves POST {CHAT_PATH})\n", framing="length")
    if request.method != "POST":
        return Reply(405, body=f"method {request.method} not allowed: use POST\n", headers={"Allow": "POST"})
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        return f"content-type must be application/json, got {content_type!r}"
    body = request.json
    if body is None:
        return "body is not valid UTF-8 JSON"
    return check_body(body)


def echo_text(body: Mapping[str, Any]) -> str:
    """The default reply: the content of the last user message (empty if there is none)."""
    for message in reversed(body["messages"]):
        if message["role"] == "user":
            return str(message["content"])
    return ""


class AivvmServer(LoopbackServer):
    """A :class:`~provider_core.testing.server.LoopbackServer` that speaks the Aivvm protocol.

    ``reply`` is the text of every unscripted reply (``None``: echo the last user message);
    ``chunk_size`` cuts it into chunks of that many bytes (``None``: one chunk);
    ``delay_between`` pauses between chunks (makes streaming visible in a demo).
    :meth:`script` queues a reply (or a fault) for the next valid request; invalid
    requests are answered 400/404/405 whatever is queued.
    """

    def __init__(
        self,
        *,
        reply: str | None = None,
        chunk_size: int | None = DEFAULT_CHUNK_SIZE,
        delay_between: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        idle_timeout: float = 30.0,
    ) -> None:
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        super().__init__(self._default_reply, validator=check_request, host=host, port=port, idle_timeout=idle_timeout)
        self.reply = reply
        self.chunk_size = chunk_size
        self.delay_between = delay_between

    def _default_reply(self, request: RecordedRequest) -> Reply:
        text = self.reply if self.reply is not None else echo_text(request.json)
        return Reply.text(text, chunk_size=self.chunk_size, delay_between=self.delay_between)

    def script(
        self,
        text: str | None = None,
        *,
        chunks: Sequence[bytes | str] | None = None,
        chunk_size: int | None = None,
        status: int = 200,
        body: bytes | str | None = None,
        **options: Any,
    ) -> Reply:
        """Queue the reply to the next valid request, and return it.

        The body is ``chunks`` (exact byte chunks, e.g. invalid UTF-8 or a character split
        by hand), else ``text`` cut every ``chunk_size`` bytes (default: the server's), else
        ``body``; with none of them, a ``status`` of 400 or more gets a short error text.
        ``options`` are the other :class:`~provider_core.testing.server.Reply` fields:
        ``framing``, ``headers``, ``delay_before``, ``delay_between``, ``reset_after``,
        ``close_after``, ``reason``.
        """
        if chunks is not None:
            payload: Sequence[bytes | str] = list(chunks)
        elif text is not None:
            size = chunk_size if chunk_size is not None else self.chunk_size
            payload = split_bytes(text.encode("utf-8"), size)
        elif body is not None:
            payload = [body]
        else:
            payload = [f"loopback Aivvm server: scripted status {status}\n"] if status >= 400 else []
        reply = Reply(status, body=payload, **options)
        self.enqueue(reply)
        return reply


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m provider_aivvm.server",
        description="Serve the Aivvm chat protocol on the loopback interface, for tests and demos. "
        "This is NOT the real service: no model runs, the reply is an echo of the last user "
        "message (or --reply TEXT), streamed in chunks.",
        epilog="Then: AIVVM_BASE_URL=<printed URL> provider-core chat --provider aivvm -m gpt-4 'Hello'",
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one, printed)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, metavar="N", help="bytes per chunk (default: %(default)s)"
    )
    parser.add_argument("--reply", metavar="TEXT", help="reply with TEXT instead of echoing the last user message")
    parser.add_argument("--delay", type=float, default=0.0, metavar="S", help="seconds between chunks (default: 0)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until interrupted (Ctrl-C); returns the exit code."""
    args = _parser().parse_args(argv)
    if args.chunk_size < 1 or args.delay < 0 or not 0 <= args.port <= 65535:
        sys.stderr.write("error: --chunk-size must be >= 1, --delay >= 0, --port in 0..65535\n")
        return 2
    server = AivvmServer(
        reply=args.reply, chunk_size=args.chunk_size, delay_between=args.delay, host=args.host, port=args.port
    )
    try:
        server.start()
    except OSError as exc:
        sys.stderr.write(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}\n")
        return 1
    print(f"loopback Aivvm server (a test aid, NOT the real service) listening on {server.url}", flush=True)
    print(f"use it with: AIVVM_BASE_URL={server.url} provider-core chat --provider aivvm -m gpt-4 'Hello'", flush=True)
    stop = threading.Event()
    try:
        while not stop.wait(3600):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
