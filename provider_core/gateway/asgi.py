"""Plain ASGI helpers shared by the middlewares (no web framework needed)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio

from .errors import ApiError

__all__ = ["Receive", "Scope", "Send", "discard_body", "has_body", "header", "send_error"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of request header ``name`` (lower case), or ``None``."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value
    return None


async def send_error(send: Send, error: ApiError, *, close: bool = False) -> None:
    """Answer with ``error`` as OpenAI-shaped JSON; ``close`` asks to end the connection."""
    body = error.json_bytes()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def has_body(scope: Scope) -> bool:
    """Whether the request announces a body (a non-zero ``Content-Length``, or chunked)."""
    return header(scope, b"content-length") not in (None, b"0") or header(scope, b"transfer-encoding") is not None


async def discard_body(receive: Receive, limit: int, seconds: float, already: int = 0) -> bool:
    """Read the rest of a request body and throw it away (nothing is kept in memory), at
    most ``limit`` bytes in all and for at most ``seconds``; True when it all came.

    Answering while a client still sends its body gives it a broken pipe instead of the
    answer (most clients send the whole body before they read), so a refusal is sent after
    the body, when the body is small and quick enough, and with ``Connection: close``
    otherwise."""
    seen = already
    with anyio.move_on_after(seconds):
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return False
            seen += len(message.get("body", b""))
            if not message.get("more_body", False):
                return True
            if seen > limit:
                return False
    return False
