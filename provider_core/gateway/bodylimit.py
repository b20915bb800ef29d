"""A request body size limit as ASGI middleware, answered so that clients can read the 413.

A request whose ``Content-Length`` exceeds the limit is refused before its body is read.
A body without ``Content-Length`` (chunked) is counted as it arrives and refused as soon
as it goes over. Either way the answer is a 413 in the OpenAI error shape.

Answering while the client is still sending is what gives it a broken pipe instead of the
413: most clients (the ``openai`` SDK, httpx, requests) send the whole body before they read
anything. So the rest of an oversized body is read and thrown away, up to ``drain_bytes``
(and a time bound), and then the 413 is sent; past that bound the 413 is sent with
``Connection: close``. A client that sent ``Expect: 100-continue`` is answered at once,
before it sends the body. A body within the limit is read here and handed on unchanged.

Reading the body is bounded in time too: a client that has not sent all of it within
``timeout`` seconds (``PROVIDER_CORE_BODY_TIMEOUT``, default 20) gets a 408 and the
connection is closed, so a slow sender cannot hold a connection and its buffer for long.
"""

from __future__ import annotations

import anyio

from .asgi import Receive, Scope, Send, discard_body, header, send_error
from .errors import ApiError

__all__ = ["BodyLimit"]

DRAIN_SECONDS = 10.0


def _too_large(limit: int, size: int | None) -> ApiError:
    what = f"{size:,} bytes" if size is not None else "longer"
    return ApiError(
        413,
        f"request body is {what}, over the gateway's {limit:,}-byte limit",
        "invalid_request_error",
        "request_too_large",
    )


def _too_slow(timeout: float, received: int) -> ApiError:
    return ApiError(
        408,
        f"the request body did not arrive within {timeout:g} s ({received:,} bytes received)",
        "invalid_request_error",
        "request_timeout",
    )


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with a readable 413."""

    def __init__(
        self,
        app: object,
        max_bytes: int,
        drain_bytes: int = 0,
        drain_seconds: float = DRAIN_SECONDS,
        timeout: float = 20.0,
    ):
        self.app = app
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.drain_bytes = drain_bytes
        self.drain_seconds = drain_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # type: ignore[operator]
            return
        raw_length = header(scope, b"content-length")
        if raw_length is None and header(scope, b"transfer-encoding") is None:
            await self.app(scope, receive, send)  # type: ignore[operator]  # no body
            return
        length = None
        if raw_length is not None:
            try:
                length = int(raw_length)
            except ValueError:
                await send_error(send, ApiError(400, "Content-Length is not a number"), close=True)
                return
            if length > self.max_bytes:
                if (header(scope, b"expect") or b"").lower() == b"100-continue":
                    # Not asked for the body yet: answer now, the client sends nothing more.
                    await send_error(send, _too_large(self.max_bytes, length), close=True)
                else:
                    await self._refuse(receive, send, length, already=0)
                return
        body = bytearray()
        more = True
        with anyio.move_on_after(self.timeout):
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the client left; nobody to answer
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > self.max_bytes:
                    await self._refuse(receive, send, length, already=len(body), more=more)
                    return
        if more:
            await send_error(send, _too_slow(self.timeout, len(body)), close=True)
            return
        await self.app(scope, _replay(bytes(body), receive), send)  # type: ignore[operator]

    async def _refuse(self, receive: Receive, send: Send, length: int | None, already: int, more: bool = True) -> None:
        drained = not more or await self._drain(receive, already, length)
        await send_error(send, _too_large(self.max_bytes, length), close=not drained)

    async def _drain(self, receive: Receive, already: int, length: int | None) -> bool:
        """Read and discard the rest of the body within the bounds; True when it all came."""
        if length is not None and length > self.drain_bytes:
            return False
        return await discard_body(receive, self.drain_bytes, self.drain_seconds, already)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once, then defers to the server's (disconnects)."""
    sent = False

    async def replayed() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
