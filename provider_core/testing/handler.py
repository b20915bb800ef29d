"""The request handler of the loopback server: read a request, record it, write its reply.

Reading de-chunks a chunked request body. Writing follows the :class:`Reply` to the byte:
each body chunk is one HTTP chunk with ``framing="chunked"``, delays are cut short when the
server stops, and a fault after N body bytes is a TCP reset (``SO_LINGER`` 0) or a plain
close. The owner of the socket server (an :class:`Owner`: the
:class:`~provider_core.testing.server.LoopbackServer`) decides which reply a request gets.
Only the standard library is imported.
"""

from __future__ import annotations

import socket
import struct
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from .recorded import RecordedRequest
from .reply import Reply

__all__ = ["Owner", "RequestHandler", "SocketServer", "Stopped"]


class Owner(Protocol):
    """What the handler asks of the server it works for."""

    idle_timeout: float
    errors: list[BaseException]

    @property
    def stopping(self) -> bool: ...

    def connection_opened(self, sock: socket.socket) -> int: ...

    def connection_closed(self, sock: socket.socket) -> None: ...

    def record(self, request: RecordedRequest) -> None: ...

    def reply_for(self, request: RecordedRequest) -> Reply: ...

    def pause(self, seconds: float) -> None: ...

    def hold(self, event: Any, seconds: float) -> None: ...


class SocketServer(ThreadingHTTPServer):
    """The socket server: one daemon thread per connection, handled by :class:`RequestHandler`
    on behalf of its ``owner``."""

    daemon_threads = True
    allow_reuse_address = True
    # The stdlib's listen backlog of 5 resets connections when many clients connect at once
    # (e.g. a gateway relaying 200 concurrent streams to this server).
    request_queue_size = 256
    owner: Owner

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # errors are recorded on the request; tracebacks here would only be noise


class Stopped(Exception):
    """The server is stopping: abandon the reply."""


class _Aborted(Exception):
    """The reply was cut on purpose (reset or close after N bytes)."""


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SocketServer

    def setup(self) -> None:
        super().setup()
        self.connection_number = self.server.owner.connection_opened(self.connection)
        self.connection.settimeout(self.server.owner.idle_timeout)
        # The status line and the body go out in separate writes: without TCP_NODELAY,
        # Nagle holds the second until the client's delayed ACK (~40 ms per request).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner.connection_closed(self.connection)

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
        owner.record(request)
        try:
            try:
                reply = owner.reply_for(request)
            except Exception as exc:  # a bug in a test's handler or validator: say so, as a 500
                owner.errors.append(exc)
                reply = Reply(500, body=f"the test server's handler raised {type(exc).__name__}: {exc}\n")
            request.outcome = self._send(reply, request)
        except Stopped:
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
        owner.pause(reply.delay_before)
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
                request.outcome = "reset"  # before the RST: a client that sees it may look at once
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
                owner.pause(reply.delay_between)
                raise _Aborted
            if index and reply.delay_between:
                self._write(pending)
                owner.pause(reply.delay_between)
            if index == len(chunks) - 1 and reply.hold is not None:
                self._write(pending)
                owner.hold(reply.hold, reply.hold_timeout)
                request.hold_expired = not reply.hold.is_set()  # said before the rest is sent
                if reply.gone_after_hold and self._client_closed(reply.hold_timeout):
                    raise ConnectionResetError("the client closed the connection")
            self._frame(pending, chunk, chunked)
            request.body_bytes_sent += len(chunk)
            if len(pending) >= 65536 or reply.delay_between:
                self._write(pending)
        if limit is not None:  # the body was shorter than the limit: cut it at its end
            self._write(pending)
            owner.pause(reply.delay_between)
            raise _Aborted
        if chunked:
            pending += b"0\r\n\r\n"
        self._write(pending)

    def _client_closed(self, timeout: float) -> bool:
        """Whether the client closes its side within ``timeout`` seconds (the socket turns
        readable and reading it would give end-of-file; any request bytes are left alone)."""
        import select

        readable, _, _ = select.select([self.connection], [], [], timeout)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

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
        if self.server.owner.stopping:
            raise Stopped

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
