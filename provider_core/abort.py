"""Cutting a request short from another thread: when the consumer of a completion goes away
(a gateway client disconnects, an async caller cancels), the worker thread that runs the
provider may be blocked reading from the upstream. An :class:`AbortScope` lets the consumer's
thread cut that read at once instead of waiting for the read timeout.

The worker runs the provider with a scope made current (:func:`running_in`). The transport
attaches each connection it sends a request on to the current scope and releases them when
the response is closed; :meth:`AbortScope.abort` (from any thread) shuts those sockets down,
so the blocked read returns, and the transport then raises :class:`Aborted`. ``Aborted`` is
not an ``Exception``: no fallback is tried for it and no fault is counted against the
provider: the provider did nothing wrong, the caller left.

A connection still being set up (``connect()``) has no socket to cut yet: that phase is
bounded by the connect timeout.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

__all__ = ["AbortScope", "Aborted", "abortable_adapter", "attach", "current", "running_in"]


class Aborted(BaseException):
    """The consumer went away and the request was cut short; not an ``Exception``, so the
    fallback loop neither falls back nor reports a failure for it."""


class AbortScope:
    """The connections one completion's worker is using, and whether it was aborted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self.aborted = False

    def attach(self, connection: Any) -> None:
        """``connection`` (an urllib3 connection about to send) belongs to this scope until
        :meth:`release`; raises :class:`Aborted` when the scope is aborted already."""
        with self._lock:
            if self.aborted:
                raise Aborted
            self._connections.append(connection)

    def release(self) -> None:
        """The responses are closed: the connections go back to the pool, out of reach."""
        with self._lock:
            self._connections.clear()

    def abort(self) -> None:
        """Cut every attached connection now (any thread); later sends raise :class:`Aborted`."""
        with self._lock:
            self.aborted = True
            connections, self._connections = self._connections, []
        for connection in connections:
            sock = getattr(connection, "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


_current: ContextVar[AbortScope | None] = ContextVar("provider_core_abort_scope", default=None)


def current() -> AbortScope | None:
    """The scope of the code running now, if any."""
    return _current.get()


def attach(connection: Any) -> None:
    """Attach ``connection`` to the current scope, if there is one (the transport's
    connections call it as they send a request)."""
    scope = _current.get()
    if scope is not None:
        scope.attach(connection)


@contextlib.contextmanager
def running_in(scope: AbortScope) -> Iterator[AbortScope]:
    """Make ``scope`` current in this thread (context) for the ``with`` block."""
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


def abortable_adapter(base: type) -> type:
    """``base`` (``requests``' HTTPAdapter) whose connections attach themselves to the
    current :class:`AbortScope` as they send a request, so that a consumer who leaves can cut
    a blocked read at once. urllib3 is imported here, when the transport builds its session."""
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class Attaching:
        def request(self, *args: Any, **kwargs: Any) -> Any:
            attach(self)
            return super().request(*args, **kwargs)  # type: ignore[misc]

    http = type("AbortableHTTPConnection", (Attaching, HTTPConnection), {})
    https = type("AbortableHTTPSConnection", (Attaching, HTTPSConnection), {})
    pools = {
        "http": type("AbortableHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
        "https": type("AbortableHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
    }

    class AbortableAdapter(base):  # type: ignore[misc, valid-type]
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

    return AbortableAdapter
