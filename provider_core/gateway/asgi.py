"""Plain ASGI helpers shared by the middlewares (no web framework needed)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .errors import ApiError

__all__ = ["Receive", "Scope", "Send", "header", "send_error"]

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
