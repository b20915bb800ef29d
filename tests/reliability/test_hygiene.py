"""Resource hygiene: every response is closed, however the caller leaves the stream.

Open connections are counted by the kernel (``/proc/net/tcp``, the server side of each
connection to the loopback server), so a response that is never closed cannot hide, and
file descriptors by ``/proc/self/fd``. Garbage collection is disabled while a completion is
abandoned: closing must follow from dropping the last reference, not from a later GC pass.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from provider_core import Registry, StreamInterrupted, create_completion
from provider_core.testing.server import LoopbackServer, Reply

from .conftest import established, open_fds, provider_for, wait_until

MESSAGES = [{"role": "user", "content": "hi"}]
#: A reply that keeps going long after the caller stops listening.
LONG = Reply(body=["first"] + ["more"] * 200, delay_between=0.05)


@pytest.fixture
def upstream(servers: Callable[..., LoopbackServer]) -> tuple[LoopbackServer, Registry]:
    server = servers()
    registry = Registry(load_entry_points=False)
    registry.register(provider_for(server.url + "/v1", name="Upstream"))
    return server, registry


@pytest.fixture
def no_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _closed(server: LoopbackServer) -> bool:
    return wait_until(lambda: established(server.port) == 0, timeout=5)


def _open_and_read_first(registry: Registry, **options: Any) -> Any:
    completion = create_completion("rel-model", MESSAGES, registry=registry, **options)
    assert next(completion) == "first"
    return completion


@pytest.mark.usefixtures("no_gc")
def test_dropping_the_completion_closes_the_response(upstream: Any) -> None:
    server, registry = upstream
    server.enqueue(LONG)
    completion = _open_and_read_first(registry)
    assert established(server.port) == 1
    del completion
    assert _closed(server)


@pytest.mark.usefixtures("no_gc")
def test_breaking_out_of_the_loop_closes_the_response(upstream: Any) -> None:
    server, registry = upstream
    server.enqueue(LONG)

    def consume() -> str:
        for chunk in create_completion("rel-model", MESSAGES, registry=registry):
            return chunk  # leaves the loop after the first chunk
        return ""

    assert consume() == "first"
    assert _closed(server)


def test_close_and_with_block_close_the_response(upstream: Any) -> None:
    server, registry = upstream
    server.enqueue(LONG, LONG)
    completion = _open_and_read_first(registry)
    completion.close()
    assert _closed(server)
    with create_completion("rel-model", MESSAGES, registry=registry) as completion:
        assert next(completion) == "first"
    assert _closed(server)
    assert list(completion) == []  # a closed completion stays closed


def test_exception_in_the_consumer_closes_the_response(upstream: Any) -> None:
    """The caller's own code raises mid-stream inside a ``with`` block: closed at once,
    even while the exception (and its traceback, which references the completion) lives."""
    server, registry = upstream
    server.enqueue(LONG)
    with (
        pytest.raises(ZeroDivisionError) as info,
        create_completion("rel-model", MESSAGES, registry=registry) as completion,
    ):
        for _ in completion:
            _ = 1 / 0
    assert info.value is not None
    assert _closed(server)


@pytest.mark.parametrize("stream", [True, False])
def test_fault_mid_stream_closes_the_response(upstream: Any, stream: bool) -> None:
    server, registry = upstream
    server.enqueue(Reply(body=["first", "second"], delay_between=20))
    with pytest.raises(StreamInterrupted):
        result = create_completion("rel-model", MESSAGES, registry=registry, stream=stream, timeout=0.5)
        for _ in result:
            pass
    assert _closed(server)


def test_error_status_leaves_nothing_open_but_the_pool(upstream: Any) -> None:
    """After 50 HTTP 503s, at most one connection stays open: the pooled keep-alive one."""
    server, registry = upstream
    server.enqueue(*[Reply(503, body="busy") for _ in range(50)])
    for _ in range(50):
        with pytest.raises(Exception, match="HTTP 503"):
            list(create_completion("rel-model", MESSAGES, registry=registry))
    assert established(server.port) <= 1


def test_finished_completions_reuse_one_connection(upstream: Any) -> None:
    server, registry = upstream
    server.enqueue(*[Reply(body=["a", "b"]) for _ in range(100)])
    for _ in range(100):
        assert "".join(create_completion("rel-model", MESSAGES, registry=registry)) == "ab"
    assert server.connections == 1 and established(server.port) == 1


@pytest.mark.usefixtures("no_gc")
def test_two_thousand_abandoned_completions_leak_nothing(upstream: Any) -> None:
    """2,000 completions are read up to their first chunk and abandoned (half dropped, half
    closed): afterwards no connection is open on either side and no descriptor is left."""
    server, registry = upstream
    server.handler = lambda request: Reply(body=["first", "second", "third"])
    warm = _open_and_read_first(registry)  # the session and its pool exist before counting
    warm.close()
    assert _closed(server)
    before = open_fds()
    for n in range(2000):
        completion = _open_and_read_first(registry)
        if n % 2:
            completion.close()
        del completion
    assert wait_until(lambda: established(server.port) == 0, timeout=20), established(server.port)
    assert wait_until(lambda: open_fds() <= before, timeout=20), (open_fds(), before)
    assert server.connections == 2001


@pytest.mark.parametrize("how", ["aclose", "drop"])
def test_async_completion_abandoned_closes_the_response(upstream: Any, how: str) -> None:
    """The async API drives the same completion from a worker thread: abandoning it after
    the first chunk stops the worker and closes the response at the upstream's next chunk."""
    import asyncio

    from provider_core.aio import acreate_completion

    server, registry = upstream
    server.enqueue(LONG)

    async def main() -> None:
        completion = acreate_completion("rel-model", MESSAGES, registry=registry)
        assert await completion.__anext__() == "first"
        if how == "aclose":
            await completion.aclose()
        del completion

    asyncio.run(main())
    assert _closed(server)
