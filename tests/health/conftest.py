"""Fixtures for the health tests: a fake clock, scripted in-process providers, a registry
with the built-in breaker, a real redis-server on loopback (session-wide, or one of a
test's own to kill and start again), and other processes sharing circuits through it."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import wait_for  # noqa: F401 - the health tests import it from here

from provider_core import AbstractProvider, Registry
from provider_core.health import CircuitBreaker, get_breaker

USER = [{"role": "user", "content": "hi"}]


class FakeClock:
    """A clock the test moves by hand (seconds since the epoch)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class Script:
    """What a scripted provider does on each call, in order: a ``str`` is yielded in
    chunks of 2 characters, an exception is raised before the first chunk, a tuple
    ``(text, exc)`` yields ``text`` then raises ``exc``, a callable is called and its
    result returned (e.g. a generator function). When the script is used up the
    last entry repeats. ``calls`` counts the calls; ``closed`` the generators closed."""

    def __init__(self, *steps: Any) -> None:
        self.steps = list(steps) or ["ok"]
        self.calls = 0
        self.closed = 0

    def next(self) -> Any:
        step = self.steps[min(self.calls, len(self.steps) - 1)]
        self.calls += 1
        return step


def scripted(name: str, script: Script, *, models: tuple[str, ...] = ("m",), priority: int = 0) -> type:
    """A working, streaming provider class named ``name`` that follows ``script``."""

    def create_completion(cls: type, model: str, messages: Any, stream: bool, **kwargs: Any) -> Any:
        step = script.next()
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            return step()

        def gen() -> Iterator[str]:
            text, exc = step if isinstance(step, tuple) else (step, None)
            try:
                for i in range(0, len(text), 2):
                    yield text[i : i + 2]
                if exc is not None:
                    raise exc
            finally:
                script.closed += 1

        return gen()

    return type(
        name,
        (AbstractProvider,),
        {
            "name": name,
            "url": "http://127.0.0.1",
            "working": True,
            "supports_stream": True,
            "models": {m: m for m in models},
            "priority": priority,
            "create_completion": classmethod(create_completion),
        },
    )


def breaker_registry(clock: Callable[[], float] | None = None, **env: str) -> tuple[Registry, CircuitBreaker]:
    """An isolated registry (no entry points) with the built-in breaker, configured by
    ``env`` (``PROVIDER_CORE_BREAKER_*`` variables), its clock replaced by ``clock``."""
    registry = Registry(load_entry_points=False, builtins=True, environ=env)
    breaker = get_breaker(registry)
    assert breaker is not None
    if clock is not None:
        breaker.clock = clock
    return registry, breaker


@pytest.fixture
def provider() -> Callable[..., tuple[type, Script]]:
    """``provider(name, *steps, models=("m",), priority=0)`` -> (class, its Script)."""

    def make(name: str, *steps: Any, models: tuple[str, ...] = ("m",), priority: int = 0) -> tuple[type, Script]:
        script = Script(*steps)
        return scripted(name, script, models=models, priority=priority), script

    return make


@pytest.fixture
def make_registry(clock: FakeClock) -> Callable[..., tuple[Registry, CircuitBreaker]]:
    """``make_registry(*providers, **env)`` -> (registry, breaker) on the fake clock."""

    def make(*providers: type, **env: str) -> tuple[Registry, CircuitBreaker]:
        registry, breaker = breaker_registry(clock, **env)
        for p in providers:
            registry.register(p)
        return registry, breaker

    return make


# -- a real redis-server: the fixtures redis_url and redis_servers are in tests/conftest.py


@pytest.fixture
def prefix() -> str:
    """A Redis key prefix of this test's own."""
    return f"pctest-{uuid.uuid4().hex[:10]}"


WORKER_SCRIPT = Path(__file__).with_name("redis_worker.py")


class Worker:
    """Another process sharing circuits through Redis (``redis_worker.py``), driven line by
    line: ``ask(command)`` sends one command and returns its JSON reply, waiting a bounded
    time. Its stderr (warnings) goes to a file, read by ``stderr()``."""

    def __init__(
        self, url: str, prefix: str, workdir: Path, *, now: float, failures: int = 3, sync: float = 0.05
    ) -> None:
        self.errfile = workdir / f"worker-{uuid.uuid4().hex[:8]}.err"
        with open(self.errfile, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(WORKER_SCRIPT), url, prefix, repr(now), str(failures), repr(sync)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                cwd=workdir,
                bufsize=0,
            )
        self._buffer = b""
        ready = self.read()
        assert ready == {"ready": True}, ready

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()

    def read(self, timeout: float = 120.0) -> Any:
        """The next JSON line, within ``timeout`` seconds (a bound, not an expectation)."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, left))
            chunk = os.read(self.proc.stdout.fileno(), 65536) if ready else b""
            if not chunk:
                why = "exited" if ready else f"gave no answer in {timeout:g}s"
                pytest.fail(f"the worker {why}: {self.stderr()[-2000:]}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def ask(self, command: str, timeout: float = 120.0) -> Any:
        self.send(command)
        return self.read(timeout)

    def stderr(self) -> str:
        return self.errfile.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.ask("quit", timeout=30)
                self.proc.wait(30)
            except BaseException:
                self.proc.kill()
                self.proc.wait(10)
                raise
            finally:
                for stream in (self.proc.stdin, self.proc.stdout):
                    if stream is not None:
                        stream.close()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """``workers(url, prefix, now=..., failures=3, sync=0.05)`` starts a :class:`Worker`;
    every one is closed at teardown."""
    made: list[Worker] = []

    def make(url: str, prefix: str, **kwargs: Any) -> Worker:
        worker = Worker(url, prefix, tmp_path, **kwargs)
        made.append(worker)
        return worker

    yield make
    for worker in made:
        try:
            worker.close()
        except BaseException:
            pass
