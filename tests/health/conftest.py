"""Fixtures for the health tests: a fake clock, scripted in-process providers, a registry
with the built-in breaker, and a real redis-server on loopback (session-wide)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from provider_core import AbstractProvider, Registry
from provider_core.health import CircuitBreaker, get_breaker
from provider_core.testing.server import free_port

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


# -- a real redis-server --------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """``redis://127.0.0.1:PORT/0`` of a redis-server started for this session (no
    persistence), stopped at the end. Skips only when redis-server is not installed."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server): the Redis backend tests need one")
    redis = pytest.importorskip("redis", reason="redis-py is not installed (pip install 'provider-core[redis]')")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    client = redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                    pytest.fail(f"redis-server did not start on port {port}: {err[-500:]}")
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()
