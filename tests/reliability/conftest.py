"""Shared pieces of the reliability suite: loopback servers (the generic scripted
``LoopbackServer`` of ``provider_core.testing``), addresses that refuse or never accept
connections, a kernel-side count of open connections, tiny in-process providers that speak
HTTP to such servers, the fixture plugins pip-installed into a private directory, and a
runner for the real CLI. Everything binds 127.0.0.1 and every wait is bounded.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import clean_env

from provider_core.testing.server import LoopbackServer, RecordedRequest, Reply


@pytest.fixture
def servers() -> Iterator[Callable[..., LoopbackServer]]:
    """``servers(handler=None)`` starts a :class:`LoopbackServer` (the generic scripted
    server of ``provider_core.testing``); every one started is stopped at teardown."""
    started: list[LoopbackServer] = []

    def start(handler: Callable[[RecordedRequest], Reply] | None = None) -> LoopbackServer:
        server = LoopbackServer(handler, idle_timeout=10.0).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def established(port: int) -> int:
    """How many TCP connections to ``127.0.0.1:port`` are ESTABLISHED, read from the
    kernel (``/proc/net/tcp``), so it counts what the server side still holds open,
    whatever the server's code thinks: a connection the client closed is no longer
    ESTABLISHED on the server side (it is in CLOSE_WAIT or gone)."""
    local = f"0100007F:{port:04X}"
    count = 0
    with open("/proc/net/tcp", encoding="ascii") as table:
        next(table)
        for line in table:
            fields = line.split()
            if fields[1] == local and fields[3] == "01":
                count += 1
    return count


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` every 20 ms until it holds or ``timeout`` passes; its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return predicate()
        time.sleep(0.02)
    return True


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
    fillers: list[socket.socket] = []
    for _ in range(8):
        probe = socket.socket()
        probe.settimeout(0.3 if fillers else 5.0)  # the first one must get in
        try:
            probe.connect(address)
        except TimeoutError:
            probe.close()
            break
        fillers.append(probe)
    else:
        pytest.fail("could not fill the accept queue of a loopback socket")
    if not fillers:
        pytest.fail("could not connect to a fresh loopback socket")
    yield f"http://127.0.0.1:{address[1]}"
    for sock in fillers:
        sock.close()
    listener.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if "proxy" in name.lower():
            monkeypatch.delenv(name)


def provider_for(url: str, **attrs: Any) -> type:
    """A streaming in-process provider (model ``rel-model``) that POSTs to ``url`` through
    the shared transport; an ``api_key`` option is sent as ``authorization: Bearer``."""
    from provider_core import AbstractProvider
    from provider_core.secrets import reveal
    from provider_core.streaming import iter_text
    from provider_core.transport import stream_post

    name = attrs.pop("name", "RelHTTP")

    @classmethod  # type: ignore[misc]
    def create_completion(cls: type, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[str]:
        body = {"model": model, "messages": messages}
        key = kwargs.get("api_key")
        headers = {"authorization": f"Bearer {reveal(key)}"} if key is not None else None
        return iter_text(stream_post(cls.name, url, json=body, headers=headers, timeout=kwargs.get("timeout")))

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


# -- the fixture plugins (pip-installed once per session, see tests/conftest.py) ------------

FIXTURE_ENTRY_POINTS = (
    "aivvm",
    "pcfix_good",
    "pcfix_importfail",
    "pcfix_hookraise",
    "pcfix_contract",
    "pcfix_dup_a",
    "pcfix_dup_b",
    "relfix_raise",
    "relfix_noiter",
    "relfix_bytes",
    "relfix_twins",
    "relfix_backup",
    "relfix_exit",
)


@pytest.fixture(scope="session")
def plugin_env(plugin_site: Path) -> dict[str, str]:
    """A CLI environment where the fixture distributions are really pip-installed (on
    ``PYTHONPATH``), next to whatever the test environment has installed (the Aivvm plugin).
    Only these plugins and Aivvm load (the hostile ones only where a test names them):
    other installed plugins, which may be configured to reach real services, stay out."""
    return clean_env(PYTHONPATH=str(plugin_site), PROVIDER_CORE_PLUGINS=",".join(FIXTURE_ENTRY_POINTS))


# -- the real gateway, `provider-core serve`, in a process of its own ----------------------


class GatewayProcess:
    """``provider-core serve --port 0 ARGS`` in a subprocess; its stderr (the server's
    log) is read by a thread into :attr:`lines`, so a test can wait for a line."""

    def __init__(self, env: dict[str, str], *args: str, open_files: int | None = None) -> None:
        import re
        import threading

        def limit() -> None:  # in the child, before exec: a hard and soft limit on open files
            import resource

            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

        self._re = re
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "provider_core", "serve", "--port", "0", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd="/",
            preexec_fn=limit if open_files else None,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = ""

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self._changed:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def rss(self) -> int:
        """The server process's resident memory, in bytes (from /proc)."""
        with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    @property
    def log(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> str:
        """The first log line matching the regex ``pattern``; fails after ``timeout`` s
        or when the process ended without one."""
        deadline = time.monotonic() + timeout
        compiled = self._re.compile(pattern)
        with self._changed:
            while True:
                for line in self.lines:
                    if compiled.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no log line matches {pattern!r}; the log:\n" + "\n".join(self.lines))
                self._changed.wait(min(left, 0.5))

    def start(self) -> GatewayProcess:
        line = self.wait_for(r"running on http://")
        self.url = self._re.search(r"(http://[0-9.:\[\]a-z]+)", line).group(1)  # type: ignore[union-attr]
        return self

    def stop(self, timeout: float = 30.0) -> int:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
            self._reader.join(10)


@pytest.fixture
def gateway_process() -> Iterator[Callable[..., GatewayProcess]]:
    """``gateway_process(env, *args)``: a started ``provider-core serve`` (stopped at teardown)."""
    started: list[GatewayProcess] = []

    def start(env: dict[str, str], *args: str, open_files: int | None = None) -> GatewayProcess:
        process = GatewayProcess(env, *args, open_files=open_files)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
