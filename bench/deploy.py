"""Processes for the gateway benchmarks: upstreams, ``provider-core serve`` instances, a
redis-server, and the load generator (:mod:`bench.loadgen`), each in a process of its own.

Every process is ended when its ``with`` block ends (terminated, killed if it lingers), and
every wait here is bounded: a benchmark that cannot start what it measures fails with a
:class:`~bench.measure.BenchError`, it never hangs.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import IO, Any

from provider_core.testing.server import free_port

from .config import FULL, QUICK, Config
from .measure import REPO, BenchError, child_env
from .report import Row

__all__ = ["free_port", "loadgen", "openai_upstream", "process", "redis_server", "serve", "stop"]

#: Seconds any one process may take to start (a bound, not an expectation).
START_TIMEOUT = 60.0


def stop(proc: subprocess.Popen, signum: int | None = None) -> int:
    """End ``proc`` (SIGTERM, or ``signum``), killing it if it lingers; its exit code."""
    if proc.poll() is None:
        if signum is None:
            proc.terminate()
        else:
            proc.send_signal(signum)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=10)


@contextlib.contextmanager
def process(argv: Sequence[str], env: Mapping[str, str], **kw: Any) -> Iterator[subprocess.Popen]:
    """``argv`` running in the repository, its output piped; ended when the block ends."""
    options: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **kw}
    proc = subprocess.Popen(list(argv), cwd=REPO, env=dict(env), **options)
    try:
        yield proc
    finally:
        stop(proc)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@contextlib.contextmanager
def openai_upstream(pace_ms: int) -> Iterator[str]:
    """:mod:`bench.server` in its own process; the base URL of its OpenAI echo stream, one
    event every ``pace_ms`` milliseconds (``OPENAI_BASE_URL``, or LiteLLM's ``api_base``)."""
    argv = [sys.executable, "-m", "bench.server"]
    with process(argv, child_env(), stdin=subprocess.PIPE) as proc:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.strip().isdigit():
            raise BenchError(f"bench.server did not start (printed {line!r})")
        yield f"http://127.0.0.1:{int(line)}/echo/{pace_ms}"


def wait_healthy(port: int, proc: subprocess.Popen, path: str = "/healthz", log: IO[str] | None = None) -> None:
    """Poll ``path`` until it answers 200; a process that exits first fails the benchmark
    (with the end of ``log``, or of its piped stderr)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            err = ""
            if log is not None:
                log.seek(0)
                err = log.read()
            elif proc.stderr and proc.poll() is not None:
                err = proc.stderr.read()
            raise BenchError(f"{' '.join(proc.args[:4])} ... did not start: {err[-800:]}")
        time.sleep(0.05)


@contextlib.contextmanager
def serve(env: Mapping[str, str], *args: str) -> Iterator[tuple[int, subprocess.Popen]]:
    """``provider-core serve`` on a free port with ``args`` and ``env`` (added to a clean
    environment); yields (port, process) once it answers ``/healthz``. Its output goes to a
    temporary file, not a pipe: a pipe nobody reads would stall a server that logs much."""
    port = free_port()
    argv = [sys.executable, "-m", "provider_core", "serve", "--port", str(port), "--no-access-log"]
    argv += ["--log-level", "warning", *args]
    with (
        tempfile.TemporaryFile("w+", encoding="utf-8") as log,
        process(argv, child_env(env), stdout=subprocess.DEVNULL, stderr=log) as proc,
    ):
        wait_healthy(port, proc, log=log)
        yield port, proc


def redis_exe() -> str | None:
    """The redis-server executable, when it and redis-py are installed."""
    try:
        import redis  # noqa: F401
    except ImportError:
        return None
    return shutil.which("redis-server")


class RedisProcess:
    """A redis-server on a free loopback port, no persistence; ``start()`` again after
    ``kill()`` reuses the port."""

    def __init__(self, exe: str) -> None:
        self.exe = exe
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        import redis

        argv = [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while True:
                try:
                    client.ping()
                    return self
                except redis.exceptions.RedisError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        raise BenchError(f"redis-server did not start on port {self.port}") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def redis_server(exe: str) -> Iterator[RedisProcess]:
    server = RedisProcess(exe).start()
    try:
        yield server
    finally:
        server.kill()


def loadgen(urls: Sequence[str], **options: Any) -> dict[str, Any]:
    """Run :mod:`bench.loadgen` against ``urls`` in a process of its own; its figures.
    ``options`` are its own (``model``, ``prompt``, ``streams``, ``requests``, ``rate``, ...)."""
    argv = [sys.executable, "-m", "bench.loadgen", *urls]
    for name, value in options.items():
        if value is not None:
            argv += [f"--{name}", str(value)]
    proc = subprocess.run(argv, cwd=REPO, env=child_env(), capture_output=True, text=True, timeout=600, check=False)
    found = re.search(r"^\{.*\}$", proc.stdout, re.MULTILINE)
    if proc.returncode != 0 or not found:
        raise BenchError(f"bench.loadgen exited {proc.returncode}: {proc.stderr.strip()[-600:]}")
    return json.loads(found.group(0))


def run_alone(rows: Callable[[Config], list[Row]], argv: list[str] | None = None) -> int:
    """``python -m bench.MODULE [--quick]``: the rows of one server benchmark, printed (not
    saved), with no API keys file inherited from the caller's environment."""
    args = sys.argv[1:] if argv is None else argv
    os.environ.pop("PROVIDER_CORE_API_KEYS", None)
    for row in rows(QUICK if "--quick" in args else FULL):
        print(f"{row.figure}: {row.result} | {row.baseline} | met: {row.verdict}")
        for note in row.notes:
            print(f"  {note}")
    return 0
