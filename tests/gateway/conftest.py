"""Fixtures for the gateway tests: in-process providers, a real uvicorn server on loopback
(in a thread, port 0), and official ``openai`` clients pointed at it.

The tests need the web stack and the clients (``pip install 'provider-core[test,server]'``).
Without them the test modules here are not collected (the report header says why), unless
``PROVIDER_CORE_EXPECT_INSTALLED`` is set (``make test``): then a missing one is an error.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import support

from provider_core.errors import ProviderConnectionError, ProviderHTTPError
from provider_core.gateway.config import GatewayConfig
from provider_core.gateway.testing import ThreadedServer as KitServer
from provider_core.provider import AbstractProvider
from provider_core.registry import Registry

NEEDED = ("starlette", "uvicorn", "anyio", "openai", "httpx")
MISSING = [name for name in NEEDED if importlib.util.find_spec(name) is None]
if MISSING and os.environ.get("PROVIDER_CORE_EXPECT_INSTALLED"):
    raise ImportError(f"the gateway tests need {', '.join(MISSING)}: pip install 'provider-core[test,server]'")
if MISSING:
    collect_ignore_glob = ["test_*.py"]


def pytest_report_header(config: Any) -> str | None:
    if MISSING:
        return f"tests/gateway: not collected, {', '.join(MISSING)} missing (pip install 'provider-core[test,server]')"
    return None


API_KEY = "sk-test-gateway-0123456789"


def last_user(messages: list[dict[str, str]]) -> str:
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")


def counted(tag: str, n: int) -> list[str]:
    """The chunks :class:`Counter` yields for ``"<tag> <n>"``."""
    return [f"{tag}.{i} " for i in range(n)]


class _Base(AbstractProvider):
    url = "http://127.0.0.1/in-process"
    working = True
    supports_stream = True


class Echo(_Base):
    """Echoes the last user message, word by word."""

    models: ClassVar = {"echo-1": "Echo 1", "shared-1": "Shared"}

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        words = last_user(messages).split(" ")
        for i, word in enumerate(words):
            yield word + (" " if i < len(words) - 1 else "")


class Counter(_Base):
    """For the prompt ``"<tag> <n>"`` yields ``<tag>.0 `` ... ``<tag>.<n-1> ``, one chunk each."""

    models: ClassVar = {"count-1": "Counter"}

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        tag, n = last_user(messages).split(" ")
        yield from counted(tag, int(n))


class Options(_Base):
    """Replies with the keyword options and messages it was given, as text."""

    models: ClassVar = {"options-1": "Options"}

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        yield repr(sorted(kwargs.items())) + "|" + repr(messages)


class Down(_Base):
    """Marked not working, but answers when named explicitly."""

    working = False
    models: ClassVar = {"down-1": "Down"}

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        yield "down but answering"


class Limited(_Base):
    """Always rate-limited by its upstream (a 429 with Retry-After: 7)."""

    models: ClassVar = {"limited-1": "Limited"}

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        raise ProviderHTTPError(429, provider=cls.name, url="http://127.0.0.1:9/api", retry_after=7.0)
        yield  # pragma: no cover


class Refused(_Base):
    """Its upstream refuses authentication (401): the gateway must not answer 401."""

    models: ClassVar = {"refused-1": "Refused"}

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        raise ProviderHTTPError(401, provider=cls.name, url="http://127.0.0.1:9/api")
        yield  # pragma: no cover


class FlakyA(_Base):
    models: ClassVar = {"flaky-1": "Flaky"}

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        raise ProviderConnectionError(f"{cls.name}: connection refused", provider=cls.name, kind="refused")
        yield  # pragma: no cover


class FlakyB(FlakyA):
    pass


class Broken(_Base):
    """Yields two chunks, then its connection resets."""

    models: ClassVar = {"broken-1": "Broken"}

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        yield "a"
        yield "b"
        raise ProviderConnectionError("connection reset by peer", provider=cls.name, kind="reset")


class Endless(_Base):
    """Streams until closed (bounded: at most 3,000 chunks, 30 s); records closing.

    The prompt is a tag; ``closed[tag]`` is set when the generator is closed early,
    ``running`` counts generators alive now.
    """

    models: ClassVar = {"endless-1": "Endless"}
    closed: ClassVar[dict[str, threading.Event]] = {}
    started: ClassVar[dict[str, threading.Event]] = {}
    lock = threading.Lock()
    running = 0

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        tag = last_user(messages)
        closed = cls.closed.setdefault(tag, threading.Event())
        cls.started.setdefault(tag, threading.Event()).set()
        with cls.lock:
            cls.running += 1
        try:
            for i in range(3000):
                yield f"{i} "
                time.sleep(0.01)
        except GeneratorExit:
            closed.set()
            raise
        finally:
            with cls.lock:
                cls.running -= 1


class Gate(_Base):
    """Blocks before its first chunk until ``release`` is set (bounded: 20 s)."""

    models: ClassVar = {"gate-1": "Gate"}
    entered = threading.Event()
    release = threading.Event()

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        cls.entered.set()
        if not cls.release.wait(20):
            raise ProviderConnectionError("gate never released", provider=cls.name)
        yield "released"


class Slow(_Base):
    """For ``"<n>"`` yields ``n`` chunks 0.05 s apart."""

    models: ClassVar = {"slow-1": "Slow"}

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        for i in range(int(last_user(messages))):
            time.sleep(0.05)
            yield f"s{i} "


PROVIDERS = (Echo, Counter, Options, Down, Limited, Refused, FlakyA, FlakyB, Broken, Endless, Gate, Slow)


def make_registry(*extra: type) -> Registry:
    registry = Registry(load_entry_points=False)
    for cls in (*PROVIDERS, *extra):
        registry.register(cls)
    return registry


class ThreadedServer(KitServer):
    """The kit's threaded server (:mod:`provider_core.gateway.testing`), with the app's workers."""

    @property
    def workers(self) -> Any:
        """The app's provider threads (a :class:`provider_core.workers.WorkerPool`)."""
        return self.app.state.gateway.workers


@contextlib.contextmanager
def running(
    registry: Registry | None = None, config: GatewayConfig | None = None, **kw: Any
) -> Iterator[ThreadedServer]:
    from provider_core.gateway.app import create_app

    app = create_app(registry if registry is not None else make_registry(), config or GatewayConfig())
    server = ThreadedServer(app, **kw).start()
    try:
        yield server
    finally:
        server.stop()


def openai_client(server: ThreadedServer, api_key: str = "unused", **kw: Any) -> Any:
    from openai import OpenAI

    return OpenAI(base_url=server.url + "/v1", api_key=api_key, max_retries=0, timeout=30, **kw)


@pytest.fixture(scope="module")
def gateway() -> Iterator[ThreadedServer]:
    """One gateway over the in-process test providers, shared by a test module."""
    with running() as server:
        yield server


@pytest.fixture
def client(gateway: ThreadedServer) -> Any:
    with openai_client(gateway) as c:
        yield c


@pytest.fixture(scope="session")
def helpers() -> Any:
    """The module's helpers (test files cannot import conftest under --import-mode=importlib)."""

    return sys.modules[__name__]


#: A ``provider-core serve`` process (see tests/support.py); here for the tests that use ``helpers``.
Served = support.Served
