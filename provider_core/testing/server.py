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
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

__all__ = ["LoopbackServer", "RecordedRequest", "Reply", "free_port", "refused_url"]

Framing = Literal["chunked", "length", "close"]

#: How a reply ended, as recorded in :attr:`RecordedRequest.outcome`.
OUTCOMES = ("pending", "complete", "reset", "closed", "client-gone", "stopped")


@dataclass
class Reply:
    """What the server sends back for one request.

    ``status``
        The HTTP status code; ``reason`` overrides the standard phrase.
    ``body``
        The body as one ``bytes``/``str``, or a sequence of them: each element is one
        *chunk*. With ``framing="chunked"`` each non-empty chunk is one HTTP chunk on the wire,
        so a client that reads chunk by chunk (urllib3 does) sees exactly these boundaries,
        down to 1-byte chunks. ``str`` is encoded as UTF-8.
    ``headers``
        Extra response headers; ``content-type`` defaults to ``text/plain; charset=utf-8``.
        The framing headers (``Transfer-Encoding``, ``Content-Length``, ``Connection``) are
        set by the server from ``framing``.
    ``framing``
        ``"chunked"`` (default): ``Transfer-Encoding: chunked``, connection kept alive.
        ``"length"``: ``Content-Length`` of the whole body, connection kept alive.
        ``"close"``: neither; the body ends when the server closes the connection.
    ``delay_before``
        Seconds to wait before sending anything (the status line included): exercises
        a client's read timeout before the first byte.
    ``delay_between``
        Seconds to wait before each chunk after the first, and before a fault. When it is
        0, consecutive chunks are gathered into large socket writes (the HTTP chunk
        boundaries stay the same); when it is positive, each chunk is its own write.
    ``reset_after``
        After this many *body* bytes (payload, not framing), abort the connection with a
        TCP reset (``SO_LINGER`` 0): the client sees ``ECONNRESET``.
    ``close_after``
        After this many body bytes, close the connection normally (FIN): with chunked or
        length framing the client sees a truncated body.
    """

    status: int = 200
    body: bytes | str | Sequence[bytes | str] = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    framing: Framing = "chunked"
    delay_before: float = 0.0
    delay_between: float = 0.0
    reset_after: int | None = None
    close_after: int | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.framing not in ("chunked", "length", "close"):
            raise ValueError(f"framing must be 'chunked', 'length' or 'close', got {self.framing!r}")
        if self.reset_after is not None and self.close_after is not None:
            raise ValueError("give reset_after or close_after, not both")
        for name in ("delay_before", "delay_between"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        for name in ("reset_after", "close_after"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative")

    def chunks(self) -> list[bytes]:
        """The body as a list of byte chunks (empty chunks dropped)."""
        parts: Iterable[bytes | str] = [self.body] if isinstance(self.body, (bytes, str)) else self.body
        out = [p.encode("utf-8") if isinstance(p, str) else bytes(p) for p in parts]
        return [p for p in out if p]

    @classmethod
    def text(cls, text: str, *, chunk_size: int | None = None, **options: Any) -> Reply:
        """A reply carrying ``text`` as UTF-8, cut every ``chunk_size`` *bytes* (so a
        multi-byte character may well be split across chunks); one chunk when ``None``."""
        data = text.encode("utf-8")
        return cls(body=split_bytes(data, chunk_size), **options)


def split_bytes(data: bytes, size: int | None) -> list[bytes]:
    """``data`` cut into pieces of ``size`` bytes (the last one shorter); whole when ``None``."""
    if size is None:
        return [data] if data else []
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    return [data[i : i + size] for i in range(0, len(data), size)]


@dataclass
class RecordedRequest:
    """One request as the server received it.

    ``headers`` maps lower-cased names to values (repeated headers joined with ``", "``);
    ``raw_headers`` keeps the names as sent, in order. ``body`` is the raw body (a chunked
    request body is de-chunked); ``json`` is the body parsed as JSON, or ``None`` when it is
    not JSON. ``connection`` numbers the TCP connections in the order the server accepted
    them (1, 2, ...): requests that share a number came over one kept-alive connection.
    ``outcome`` says how the reply ended (see :data:`OUTCOMES`); ``done`` is set then.
    """

    method: str
    path: str
    headers: dict[str, str]
    raw_headers: list[tuple[str, str]]
    body: bytes
    connection: int
    client: tuple[str, int]
    outcome: str = "pending"
    body_bytes_sent: int = 0
    done: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


Handler = Callable[[RecordedRequest], Reply]
Validator = Callable[[RecordedRequest], "str | Reply | None"]


class _Stopped(Exception):
    """The server is stopping: abandon the reply."""


class _Aborted(Exception):
    """The reply was cut on purpose (reset or close after N bytes)."""


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection_number = self.server.owner._connected(self.connection)
        self.connection.settimeout(self.server.owner.idle_timeout)
        # The status line and the body go out in separate writes: without TCP_NODELAY,
        # Nagle holds the second until the client's delayed ACK (~40 ms per request).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._disconnected(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read server.requests instead

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        owner = self.server.owner
        raw_headers = list(self.headers.items())
        headers: dict[str, str] = {}
        for name, value in raw_headers:
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers=headers,
            raw_headers=raw_headers,
            body=self._read_body(),
            connection=self.connection_number,
            client=self.client_address[:2],
        )
        owner._record(request)
        try:
            try:
                reply = owner._reply_for(request)
            except Exception as exc:  # a bug in a test's handler or validator: say so, as a 500
                owner.errors.append(exc)
                reply = Reply(500, body=f"the test server's handler raised {type(exc).__name__}: {exc}\n")
            request.outcome = self._send(reply, request)
        except _Stopped:
            request.outcome = "stopped"
            self.close_connection = True
        except (ConnectionError, OSError):
            request.outcome = "client-gone"
            self.close_connection = True
        finally:
            request.done.set()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

    def _send(self, reply: Reply, request: RecordedRequest) -> str:
        owner = self.server.owner
        owner._sleep(reply.delay_before)
        chunks = reply.chunks()
        total = sum(map(len, chunks))
        limit = reply.reset_after if reply.reset_after is not None else reply.close_after
        self.send_response(reply.status, reply.reason)
        sent_type = False
        for name, value in reply.headers.items():
            if name.lower() in ("transfer-encoding", "content-length", "connection"):
                continue
            sent_type = sent_type or name.lower() == "content-type"
            self.send_header(name, value)
        if not sent_type:
            self.send_header("Content-Type", "text/plain; charset=utf-8")
        if reply.framing == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
        elif reply.framing == "length":
            self.send_header("Content-Length", str(total))
        if reply.framing == "close" or limit is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            return "complete"
        try:
            self._send_body(reply, chunks, limit, request)
        except _Aborted:
            if reply.reset_after is not None:
                self._reset()
                return "reset"
            self.close_connection = True
            return "closed"
        return "complete"

    def _send_body(self, reply: Reply, chunks: list[bytes], limit: int | None, request: RecordedRequest) -> None:
        owner = self.server.owner
        chunked = reply.framing == "chunked"
        pending = bytearray()
        for index, chunk in enumerate(chunks):
            if limit is not None and request.body_bytes_sent + len(chunk) >= limit:
                chunk = chunk[: limit - request.body_bytes_sent]
                self._frame(pending, chunk, chunked)
                request.body_bytes_sent += len(chunk)
                self._write(pending)
                owner._sleep(reply.delay_between)
                raise _Aborted
            if index and reply.delay_between:
                self._write(pending)
                owner._sleep(reply.delay_between)
            self._frame(pending, chunk, chunked)
            request.body_bytes_sent += len(chunk)
            if len(pending) >= 65536 or reply.delay_between:
                self._write(pending)
        if limit is not None:  # the body was shorter than the limit: cut it at its end
            self._write(pending)
            owner._sleep(reply.delay_between)
            raise _Aborted
        if chunked:
            pending += b"0\r\n\r\n"
        self._write(pending)

    @staticmethod
    def _frame(pending: bytearray, chunk: bytes, chunked: bool) -> None:
        if not chunk:
            return
        if chunked:
            pending += b"%x\r\n" % len(chunk)
            pending += chunk
            pending += b"\r\n"
        else:
            pending += chunk

    def _write(self, pending: bytearray) -> None:
        if pending:
            self.wfile.write(bytes(pending))
            pending.clear()
        if self.server.owner._stopping.is_set():
            raise _Stopped

    def _reset(self) -> None:
        """Abort the connection: SO_LINGER 0 makes close() send RST instead of FIN."""
        self.close_connection = True
        sock = self.connection
        try:
            self.wfile.flush()
        except OSError:
            pass
        for stream in (self.wfile, self.rfile):
            try:
                stream.close()
            except OSError:
                pass
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        sock.close()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (TimeoutError, ConnectionError):
            self.close_connection = True  # an idle keep-alive connection, or the client left

    def handle(self) -> None:
        try:
            super().handle()
        except (OSError, ValueError):
            pass  # the socket was closed under us (reset on purpose, or the server stopping)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The stdlib's listen backlog of 5 resets connections when many clients connect at once
    # (e.g. a gateway relaying 200 concurrent streams to this server).
    request_queue_size = 256
    owner: LoopbackServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # errors are recorded on the request; tracebacks here would only be noise


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
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> LoopbackServer:
        """Bind and start serving; returns ``self``. Raises ``OSError`` if the port is taken."""
        if self._httpd is not None:
            raise RuntimeError("server already started")
        self._stopping.clear()
        httpd = _Server((self.host, self.port), _RequestHandler)
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

    # -- used by the handler threads ----------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _reply_for(self, request: RecordedRequest) -> Reply:
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

    def _connected(self, sock: socket.socket) -> int:
        with self._lock:
            self._connections += 1
            self._sockets.add(sock)
            return self._connections

    def _disconnected(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0 and self._stopping.wait(seconds):
            raise _Stopped


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def refused_url(host: str = "127.0.0.1") -> str:
    """``http://HOST:PORT`` where nothing listens, so connecting is refused at once."""
    return f"http://{host}:{free_port(host)}"
