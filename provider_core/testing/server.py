"""A scripted HTTP server on the loopback interface, for tests of code that talks HTTP.

Nothing here knows any provider's protocol: a test (or a protocol-specific server built on
this one, such as ``provider_aivvm.server``) decides what each request gets back. The server
is a real :class:`http.server.ThreadingHTTPServer` bound to ``127.0.0.1`` on a free port, so
the client under test goes through real sockets, real HTTP framing and a real connection
pool: nothing is mocked.

Usage::

    from provider_core.testing.server import LoopbackServer, Reply

    with LoopbackServer() as server:
        server.enqueue(Reply(body=["Hel", "lo"]))          # the next request gets this
        ...  # make a request to server.url + "/anything"
        (request,) = server.requests                        # what the client sent
        assert request.json == {...}
        assert request.headers["content-type"] == "application/json"

Who answers a request, in this order:

1. the ``validator`` (if given): ``validator(request) -> str | Reply | None``; a string is
   the reason the request is wrong, answered ``400`` with the reason as a ``text/plain``
   body; a :class:`Reply` is sent as it is (e.g. a 404 for an unknown path); ``None``
   lets the request through;
2. the next :class:`Reply` queued with :meth:`LoopbackServer.enqueue` (first in, first out);
3. the ``handler`` (if given): ``handler(request) -> Reply``;
4. otherwise ``404`` with a body saying that no reply was scripted.

A :class:`Reply` chooses the status, headers, body chunks, the framing (chunked transfer
encoding, ``Content-Length``, or a body delimited by closing the connection), delays (before
the first byte, between chunks) and faults (a TCP reset, or a plain close, after some bytes
of the body). Every request is recorded, in arrival order, as a :class:`RecordedRequest`
(method, path, headers, body, parsed JSON, which connection it came on, and how its reply
ended) in :attr:`LoopbackServer.requests`.

The server is meant to stop by itself: handler threads are daemons, idle keep-alive
connections time out (``idle_timeout``), delays are cut short when the server stops, and
:meth:`LoopbackServer.stop` closes every open connection. Only the standard library is
imported.

This module is the server and its life cycle; the reply script is
:mod:`provider_core.testing.reply`, the request record :mod:`provider_core.testing.recorded`,
and the reading and writing on the wire :mod:`provider_core.testing.handler`. Every public
name is importable from here.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from collections.abc import Callable

from .handler import RequestHandler, SocketServer, Stopped
from .recorded import OUTCOMES, RecordedRequest
from .reply import Framing, Reply, split_bytes

# Reply, RecordedRequest and their helpers live in .reply and .recorded; they are imported from here.
__all__ = [
    "OUTCOMES",
    "Framing",
    "LoopbackServer",
    "RecordedRequest",
    "Reply",
    "free_port",
    "refused_url",
    "split_bytes",
]

Handler = Callable[[RecordedRequest], Reply]
Validator = Callable[[RecordedRequest], "str | Reply | None"]


class LoopbackServer:
    """A real HTTP/1.1 server on ``host`` (``127.0.0.1``) and a free port, in a daemon thread.

    ``handler(request) -> Reply`` answers requests that find no queued reply;
    ``validator(request) -> str | Reply | None`` runs first: a returned reason is answered
    with a 400 carrying it, a returned :class:`Reply` is sent as is.
    ``idle_timeout`` (seconds) ends a kept-alive connection that sends nothing.

    Use it as a context manager (``with LoopbackServer() as server: ...``) or call
    :meth:`start` and :meth:`stop`. :attr:`url` is ``http://127.0.0.1:PORT`` (no trailing
    slash). Safe to use from several threads.
    """

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        validator: Validator | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        idle_timeout: float = 30.0,
    ) -> None:
        self.handler = handler
        self.validator = validator
        self.host = host
        self.port = port
        self.idle_timeout = idle_timeout
        self._queue: deque[Reply] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._connections = 0
        #: Exceptions raised by ``handler`` or ``validator`` (each answered with a 500).
        self.errors: list[BaseException] = []
        self._holds: set[threading.Event] = set()
        self._httpd: SocketServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> LoopbackServer:
        """Bind and start serving; returns ``self``. Raises ``OSError`` if the port is taken."""
        if self._httpd is not None:
            raise RuntimeError("server already started")
        self._stopping.clear()
        httpd = SocketServer((self.host, self.port), RequestHandler)
        httpd.owner = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"loopback-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut short any delay, and close every open connection. Idempotent."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        with self._lock:
            held = list(self._holds)
        for event in held:
            event.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, with no trailing slash."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # -- scripting ----------------------------------------------------------------------

    def enqueue(self, *replies: Reply) -> None:
        """Queue replies for the next requests, in order (each reply answers one request)."""
        with self._lock:
            self._queue.extend(replies)

    def clear(self) -> None:
        """Forget queued replies and recorded requests."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()

    # -- inspection ---------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def connections(self) -> int:
        """How many TCP connections the server has accepted so far."""
        with self._lock:
            return self._connections

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Wait until ``count`` requests have been received *and answered* (their reply
        ended, whatever the outcome), then return all requests. Raises ``TimeoutError``."""
        deadline = time.monotonic() + timeout
        while True:
            requests = self.requests
            if len(requests) >= count:
                for request in requests[:count]:
                    if not request.done.wait(max(0.0, deadline - time.monotonic())):
                        raise TimeoutError(f"request {request.method} {request.path} still answering")
                return self.requests
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{len(requests)} request(s) received, expected {count}")
            time.sleep(0.01)

    # -- the request handler's side (provider_core.testing.handler) -------------------------

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` has been called."""
        return self._stopping.is_set()

    def record(self, request: RecordedRequest) -> None:
        """Add a request the handler has read to :attr:`requests`."""
        with self._lock:
            self._requests.append(request)

    def reply_for(self, request: RecordedRequest) -> Reply:
        """What ``request`` gets: the validator's refusal, else the next queued reply, else
        the handler's answer, else a 404."""
        if self.validator is not None:
            verdict = self.validator(request)
            if isinstance(verdict, Reply):
                return verdict
            if verdict:
                return Reply(400, body=verdict, reason="Bad Request", framing="length")
        with self._lock:
            queued = self._queue.popleft() if self._queue else None
        if queued is not None:
            return queued
        if self.handler is not None:
            return self.handler(request)
        return Reply(404, body=f"no reply scripted for {request.method} {request.path}\n", framing="length")

    def connection_opened(self, sock: socket.socket) -> int:
        """Count a connection the handler serves; returns its number (1, 2, ...)."""
        with self._lock:
            self._connections += 1
            self._sockets.add(sock)
            return self._connections

    def connection_closed(self, sock: socket.socket) -> None:
        """The handler is done with ``sock``."""
        with self._lock:
            self._sockets.discard(sock)

    def hold(self, event: threading.Event, seconds: float) -> None:
        """Wait until ``event`` is set, at most ``seconds`` (a :attr:`Reply.hold`); raises
        :class:`Stopped` when the server stops meanwhile."""
        with self._lock:
            self._holds.add(event)
        try:
            event.wait(seconds)
        finally:
            with self._lock:
                self._holds.discard(event)
        if self._stopping.is_set():
            raise Stopped

    def pause(self, seconds: float) -> None:
        """Wait ``seconds`` (a scripted delay); raises :class:`Stopped` when the server stops meanwhile."""
        if seconds > 0 and self._stopping.wait(seconds):
            raise Stopped


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def refused_url(host: str = "127.0.0.1") -> str:
    """``http://HOST:PORT`` where nothing listens, so connecting is refused at once."""
    return f"http://{host}:{free_port(host)}"
