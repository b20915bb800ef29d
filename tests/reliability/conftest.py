"""Shared pieces of the reliability suite: a scripted raw-socket HTTP server on 127.0.0.1,
addresses that refuse or never accept connections, tiny in-process providers that speak
to such servers, and a runner for the real CLI.

The server is written on raw sockets (not http.server) because the faults it plays need
byte-level control: a reset after exactly N body bytes, a stall before the status line,
invalid UTF-8, a close-delimited body. Every wait is bounded and ends when the server stops.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

#: The longest any server thread waits for anything; tests end well before.
MAX_WAIT = 30.0

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Reply:
    """What the server answers to one request.

    ``framing``: ``"chunked"`` (Transfer-Encoding), ``"length"`` (Content-Length) or
    ``"close"`` (body ends when the connection closes). ``delay`` sleeps between chunks.
    ``stall_before_headers`` / ``stall_after_chunks=N`` stop sending (before the status
    line / after N chunks) and hold the connection until the client closes it.
    ``reset_after_bytes=N`` sends N body bytes, pauses ``reset_pause`` so the client reads
    them, then resets the connection (RST).
    """

    status: int = 200
    chunks: Sequence[bytes] = ()
    headers: Sequence[tuple[str, str]] = ()
    framing: str = "chunked"
    delay: float = 0.0
    stall_before_headers: bool = False
    stall_after_chunks: int | None = None
    reset_after_bytes: int | None = None
    reset_pause: float = 0.2


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _PeerGone(Exception):
    pass


@dataclass
class ScriptedServer:
    """A loopback HTTP/1.1 server answering every request with ``script(request)``.

    ``requests`` records what arrived; ``open_connections`` counts client connections
    not yet closed; ``connections`` counts all accepted.
    """

    script: Callable[[Recorded], Reply]
    requests: list[Recorded] = field(default_factory=list)
    open_connections: int = 0
    connections: int = 0

    def __post_init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._accept_loop, name="scripted-server", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_idle(self, timeout: float = 10.0) -> int:
        """Wait until no client connection is open (or ``timeout``); return how many are."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self.open_connections and time.monotonic() < deadline:
                self._idle.wait(0.05)
            return self.open_connections

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    # -- internals ------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self.open_connections += 1
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        buf = b""
        try:
            while not self._stop.is_set():
                request, buf = self._read_request(conn, buf)
                if request is None:
                    return
                self.requests.append(request)
                if not self._answer(conn, self.script(request)):
                    return
        except (_PeerGone, OSError):
            return
        finally:
            try:
                conn.close()
            finally:
                with self._idle:
                    self.open_connections -= 1
                    self._idle.notify_all()

    def _recv(self, conn: socket.socket) -> bytes:
        deadline = time.monotonic() + MAX_WAIT
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                return conn.recv(65536)
            except TimeoutError:
                continue
        raise _PeerGone

    def _read_request(self, conn: socket.socket, buf: bytes) -> tuple[Recorded | None, bytes]:
        while b"\r\n\r\n" not in buf:
            data = self._recv(conn)
            if not data:
                return None, b""
            buf += data
        head, _, buf = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(buf) < length:
            data = self._recv(conn)
            if not data:
                return None, b""
            buf += data
        return Recorded(method, path, headers, buf[:length]), buf[length:]

    def _hold(self, conn: socket.socket) -> None:
        """Send nothing more; return when the client closes (or the server stops)."""
        while self._recv(conn):
            pass

    def _answer(self, conn: socket.socket, reply: Reply) -> bool:
        """Send ``reply``; return whether the connection may serve another request."""
        if reply.stall_before_headers:
            self._hold(conn)
            return False
        reason = REASONS.get(reply.status, "Status")
        head = [f"HTTP/1.1 {reply.status} {reason}", "Content-Type: text/plain; charset=utf-8"]
        head += [f"{k}: {v}" for k, v in reply.headers]
        if reply.framing == "chunked":
            head.append("Transfer-Encoding: chunked")
        elif reply.framing == "length":
            head.append(f"Content-Length: {sum(len(c) for c in reply.chunks)}")
        else:
            head.append("Connection: close")
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        sent = 0
        for n, chunk in enumerate(reply.chunks):
            if reply.stall_after_chunks is not None and n >= reply.stall_after_chunks:
                self._hold(conn)
                return False
            if n and reply.delay and self._stop.wait(reply.delay):
                return False
            if reply.reset_after_bytes is not None and sent + len(chunk) >= reply.reset_after_bytes:
                self._send_chunk(conn, chunk[: reply.reset_after_bytes - sent], reply.framing)
                self._reset(conn, reply.reset_pause)
                return False
            self._send_chunk(conn, chunk, reply.framing)
            sent += len(chunk)
        if reply.reset_after_bytes is not None:
            self._reset(conn, reply.reset_pause)
            return False
        if reply.stall_after_chunks is not None:
            self._hold(conn)
            return False
        if reply.framing == "chunked":
            conn.sendall(b"0\r\n\r\n")
        return reply.framing != "close"

    @staticmethod
    def _send_chunk(conn: socket.socket, data: bytes, framing: str) -> None:
        if not data:
            return
        if framing == "chunked":
            conn.sendall(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            conn.sendall(data)

    def _reset(self, conn: socket.socket, pause: float) -> None:
        self._stop.wait(pause)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.fixture
def serve() -> Iterator[Callable[..., ScriptedServer]]:
    """``serve(reply_or_script)`` starts a :class:`ScriptedServer`; all stop at teardown."""
    servers: list[ScriptedServer] = []

    def start(script: Reply | Callable[[Recorded], Reply]) -> ScriptedServer:
        fn = script if callable(script) else (lambda _request, _r=script: _r)
        server = ScriptedServer(fn)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A loopback URL whose port is bound but not listening: connecting is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.fixture
def blackhole_url() -> Iterator[str]:
    """A loopback URL where connecting times out.

    A socket listening with backlog 0 that never accepts: Linux queues one connection,
    which we make ourselves, and then drops the SYNs of the next ones, so a client's
    connect() waits until its own timeout. The fixture checks that this holds.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers = []
    for _ in range(8):
        probe = socket.socket()
        probe.settimeout(0.2)
        try:
            probe.connect(address)
        except TimeoutError:
            probe.close()
            break
        fillers.append(probe)
    else:
        pytest.fail("could not fill the accept queue of a loopback socket")
    yield f"http://127.0.0.1:{address[1]}"
    for sock in fillers:
        sock.close()
    listener.close()


# -- the real CLI ------------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a CLI subprocess: no proxies, UTF-8, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(PYTHONIOENCODING="utf-8", NO_PROXY="*")
    env.update(extra)
    return env


@dataclass
class CLIResult:
    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def run_cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 60) -> CLIResult:
    """Run ``provider-core ARGS`` (the installed console script's module) in a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "provider_core", *args],
        input=stdin.encode("utf-8") if stdin is not None else b"",
        capture_output=True,
        env=env if env is not None else clean_env(),
        timeout=timeout,
        cwd="/",
    )
    return CLIResult(proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8"))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if "proxy" in name.lower():
            monkeypatch.delenv(name)


def provider_for(url: str, **attrs: Any) -> type:
    """A streaming in-process provider that POSTs to ``url`` through the shared transport."""
    from provider_core import AbstractProvider
    from provider_core.streaming import iter_text
    from provider_core.transport import stream_post

    name = attrs.pop("name", "RelHTTP")

    @classmethod  # type: ignore[misc]
    def create_completion(cls: type, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[str]:
        body = {"model": model, "messages": messages}
        return iter_text(stream_post(cls.name, url, json=body, timeout=kwargs.get("timeout")))

    namespace = {
        "name": name,
        "url": url,
        "working": True,
        "supports_stream": True,
        "models": {"rel-model": "Reliability model"},
        "create_completion": create_completion,
        **attrs,
    }
    return type(name, (AbstractProvider,), namespace)


# -- plugin distributions, pip-installed into a private target directory ------------------

HERE = Path(__file__).resolve().parent
FIXTURE_DISTRIBUTIONS = (
    HERE.parent / "fixtures" / "plugins" / "good",
    HERE.parent / "fixtures" / "plugins" / "broken",
    HERE.parent / "fixtures" / "plugins" / "dup_a",
    HERE.parent / "fixtures" / "plugins" / "dup_b",
    HERE / "fixtures" / "misbehave",
)


@pytest.fixture(scope="session")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A CLI environment where the fixture distributions are really pip-installed
    (into a private ``--target`` directory on ``PYTHONPATH``), next to whatever the test
    environment has installed (the Aivvm plugin)."""
    target = tmp_path_factory.mktemp("plugins")
    build = tmp_path_factory.mktemp("build")
    sources = []
    for source in FIXTURE_DISTRIBUTIONS:  # build from copies: no build/ or egg-info in the tree
        copy = build / f"{source.parent.name}-{source.name}"
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        sources.append(str(copy))
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
    proc = subprocess.run(
        [*cmd, "--target", str(target), *sources], capture_output=True, text=True, timeout=240, cwd=build
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return clean_env(PYTHONPATH=str(target))
