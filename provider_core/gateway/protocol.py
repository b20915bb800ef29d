"""The HTTP/1.1 protocol ``provider-core serve`` runs: uvicorn's own (h11), with two limits it
lacks, so that many idle or slow connections cannot take the gateway down.

* **A cap on open connections** (``PROVIDER_CORE_MAX_CONNECTIONS``, ``serve
  --max-connections``): a connection beyond it is answered at once with a 503 in the OpenAI
  error shape and closed, so its file descriptor is given back instead of being held. The
  default stays below the process's open-file limit (the soft limit minus
  :data:`RESERVED_FILES` for the upstream connections, logs and the like), so ``accept()``
  never runs out of descriptors (it then fails in a tight loop, one traceback each time).
* **A deadline for the first request's headers** (``PROVIDER_CORE_HEADER_TIMEOUT``, default
  10 s): a connection that has not sent a complete request head by then is closed (a
  "slowloris" client trickles its headers to hold a connection forever). After a response,
  uvicorn's keep-alive timeout takes over.

And one saving: **the writes of one turn of the event loop go out as one** (see
:class:`CoalescingTransport`). uvicorn writes each ASGI message at once, one ``send()``
system call each: a streamed reply's status, its first event, and at the end its last
events, ``[DONE]`` and the chunked terminator, are five or more. Every one releases the
GIL, and while provider threads hold it the event loop waits to get it back; at 64 streams
that wait was the largest share of the loop's time. Joined, they are two.

uvicorn imports this class by name (``--http``), also in each ``--workers`` process.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["DEFAULT_HEADER_TIMEOUT", "CoalescingTransport", "GuardedH11Protocol", "default_max_connections"]

ENV_MAX_CONNECTIONS = "PROVIDER_CORE_MAX_CONNECTIONS"
ENV_HEADER_TIMEOUT = "PROVIDER_CORE_HEADER_TIMEOUT"
DEFAULT_HEADER_TIMEOUT = 10.0
#: File descriptors kept free of client connections (upstream sockets, logs, files).
RESERVED_FILES = 128


def default_max_connections() -> int:
    """The open-file soft limit minus :data:`RESERVED_FILES` (at least 16, at most 10,000)."""
    try:
        import resource
    except ImportError:  # not a Unix: no limit to read
        return 1000
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 10_000
    return max(16, min(10_000, soft - RESERVED_FILES))


def _limits() -> tuple[int, float]:
    raw_max = os.environ.get(ENV_MAX_CONNECTIONS, "").strip()
    raw_timeout = os.environ.get(ENV_HEADER_TIMEOUT, "").strip()
    maximum = int(raw_max) if raw_max.isdigit() and int(raw_max) > 0 else default_max_connections()
    try:
        timeout = float(raw_timeout) if raw_timeout else DEFAULT_HEADER_TIMEOUT
    except ValueError:
        timeout = DEFAULT_HEADER_TIMEOUT
    return maximum, (timeout if 0 < timeout < float("inf") else DEFAULT_HEADER_TIMEOUT)


def _busy_response() -> bytes:
    body = json.dumps(
        {
            "error": {
                "message": "the gateway has too many open connections; retry shortly",
                "type": "service_unavailable",
                "param": None,
                "code": "too_many_connections",
            }
        }
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nretry-after: 1\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class CoalescingTransport:
    """A connection's transport whose writes within one turn of the event loop are joined
    into one: the first write schedules a flush (``call_soon``), later ones in the same
    turn join it. ``close()`` flushes first, so nothing written is lost; every other
    attribute is the transport's own (flow control, ``is_closing``, ``get_extra_info``)."""

    __slots__ = ("_loop", "_parts", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._parts:
            self._loop.call_soon(self.flush)
        self._parts.append(data)

    def flush(self) -> None:
        """Write what is pending now (nothing once the transport is closing)."""
        parts, self._parts = self._parts, []
        if parts and not self.transport.is_closing():
            self.transport.write(parts[0] if len(parts) == 1 else b"".join(parts))

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the connection cap, the header deadline and writes
    joined per turn of the event loop."""

    limits: tuple[int, float] | None = None  # read from the environment once per process
    busy = _busy_response()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if GuardedH11Protocol.limits is None:
            GuardedH11Protocol.limits = _limits()
        maximum, timeout = GuardedH11Protocol.limits
        self._header_deadline: asyncio.TimerHandle | None = None
        if len(self.connections) > maximum:
            transport.write(self.busy)
            transport.close()
            return
        self._header_deadline = self.loop.call_later(timeout, self._headers_too_slow)
        self.transport = CoalescingTransport(transport, self.loop)  # type: ignore[assignment]

    def _headers_too_slow(self) -> None:
        if self.cycle is None and not self.transport.is_closing():
            self.transport.close()  # no request head yet: a trickling client is not kept

    def connection_lost(self, exc: Any) -> None:
        deadline = getattr(self, "_header_deadline", None)
        if deadline is not None:
            deadline.cancel()
        super().connection_lost(exc)
