"""What only the async API has: native async providers, a free event loop while a sync
provider blocks, and cancellation that closes the upstream connection."""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest

from provider_core import acreate_completion
from provider_core.errors import FallbackWarning, ProviderConnectionError, StreamInterrupted
from provider_core.health import Phase
from provider_core.registry import Registry

USER = [{"role": "user", "content": "hi"}]
WAIT = 10.0  # generous bound for things that happen at once


def native(name: str, agen_factory, *, models=("m",), priority=0, sync_text="from the sync path"):
    """A provider with a native ``acreate_completion`` (and a sync one that must not be used)."""
    from provider_core import AbstractProvider

    calls = {"sync": 0, "native": 0}

    def create_completion(cls, model, messages, stream, **kwargs):
        calls["sync"] += 1
        yield sync_text

    def acreate(cls, model, messages, stream, **kwargs):
        calls["native"] += 1
        return agen_factory()

    cls = type(
        name,
        (AbstractProvider,),
        {
            "working": True,
            "supports_stream": True,
            "models": {m: m for m in models},
            "priority": priority,
            "create_completion": classmethod(create_completion),
            "acreate_completion": classmethod(acreate),
        },
    )
    return cls, calls


def registry_of(*providers) -> Registry:
    registry = Registry(load_entry_points=False)
    for p in providers:
        registry.register(p)
    return registry


def test_a_native_async_provider_runs_on_the_event_loop():
    loops = []

    async def gen():
        loops.append(asyncio.get_running_loop())
        for word in ("na", "ti", "ve"):
            await asyncio.sleep(0)
            yield word

    cls, calls = native("Native", gen)
    registry = registry_of(cls)

    async def main():
        chunks = [c async for c in acreate_completion("m", USER, registry=registry)]
        return chunks, asyncio.get_running_loop()

    chunks, loop = asyncio.run(main())
    assert chunks == ["na", "ti", "ve"]
    assert calls == {"sync": 0, "native": 1}
    assert loops == [loop], "the provider's coroutine ran on the caller's loop"


def test_native_failure_before_the_first_chunk_falls_back_and_after_it_interrupts(provider):
    async def fails_at_once():
        raise ProviderConnectionError("native refused", provider="Native", kind="refused")
        yield  # pragma: no cover

    async def fails_later():
        yield "so far"
        raise ProviderConnectionError("native reset", provider="Native", kind="reset")

    first, _ = native("Native", fails_at_once, priority=1)
    good, _ = provider("Good", "fine")

    async def collect(registry):
        return [c async for c in acreate_completion("m", USER, registry=registry)]

    with pytest.warns(FallbackWarning, match="Native: ProviderConnectionError: native refused"):
        assert asyncio.run(collect(registry_of(first, good))) == ["fi", "ne"]
    later, _ = native("Native", fails_later, priority=1)
    with pytest.raises(StreamInterrupted, match="native reset"):
        asyncio.run(collect(registry_of(later, good)))


def test_the_event_loop_stays_free_while_a_sync_provider_blocks(provider):
    unblocked = threading.Event()

    def blocking():
        # the reply waits for a coroutine on the loop: a blocked loop would never set it
        assert unblocked.wait(WAIT), "the event loop was blocked"
        yield "after the loop ran"

    cls, _ = provider("Blocking", blocking)
    registry = registry_of(cls)

    async def main():
        async def other():
            await asyncio.sleep(0.01)
            unblocked.set()

        task = asyncio.create_task(other())
        text = await acreate_completion("m", USER, registry=registry)
        await task
        return text

    assert asyncio.run(main()) == "after the loop ran"


def test_many_concurrent_async_completions(provider):
    cls, _ = provider("Echo", "x" * 40)
    registry = registry_of(cls)

    async def main():
        return await asyncio.gather(*(acreate_completion("m", USER, registry=registry) for _ in range(50)))

    assert asyncio.run(main()) == ["x" * 40] * 50


# -- cancellation -------------------------------------------------------------------------------


@pytest.fixture
def slow_aivvm(aivvm_server, make_registry):
    """Aivvm (with the breaker) against a server that streams 400 chunks, 20 ms apart."""
    from provider_aivvm import Aivvm

    aivvm_server.script("0123456789" * 400, chunk_size=10, delay_between=0.02)
    registry, breaker = make_registry(Aivvm)
    return registry, breaker, aivvm_server


def stream(registry, server):
    return acreate_completion("gpt-4", USER, registry=registry, include_not_working=True, base_url=server.url)


def assert_client_gone(server, breaker):
    (request,) = server.requests
    assert request.done.wait(WAIT), "the server is still sending: the upstream response was not closed"
    assert request.outcome == "client-gone"
    assert request.body_bytes_sent < 4000, "closed long before the end of the reply"
    assert breaker.phase("Aivvm") is Phase.CLOSED and breaker.state("Aivvm").failures == 0, "a cancel is no fault"


def test_aclose_closes_the_upstream_connection(slow_aivvm):
    registry, breaker, server = slow_aivvm

    async def main():
        completion = stream(registry, server)
        got = [await completion.__anext__(), await completion.__anext__()]
        await completion.aclose()
        with pytest.raises(StopAsyncIteration):
            await completion.__anext__()
        return got

    assert asyncio.run(main()) == ["0123456789", "0123456789"]
    assert_client_gone(server, breaker)


def test_breaking_out_of_async_with_closes_the_upstream_connection(slow_aivvm):
    registry, breaker, server = slow_aivvm

    async def main():
        async with stream(registry, server) as completion:
            async for _ in completion:
                break

    asyncio.run(main())
    assert_client_gone(server, breaker)


def test_cancelling_the_task_closes_the_upstream_connection(slow_aivvm):
    registry, breaker, server = slow_aivvm
    got_one = None

    async def consume():
        async for _ in stream(registry, server):
            got_one.set()

    async def main():
        nonlocal got_one
        got_one = asyncio.Event()
        task = asyncio.create_task(consume())
        await asyncio.wait_for(got_one.wait(), WAIT)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert_client_gone(server, breaker)


def test_dropping_the_iterator_closes_the_upstream_connection(slow_aivvm):
    registry, breaker, server = slow_aivvm

    async def main():
        completion = stream(registry, server)
        await completion.__anext__()
        del completion
        gc.collect()

    asyncio.run(main())
    assert_client_gone(server, breaker)


def test_cancelling_a_native_provider_cancels_its_pending_step():
    finished = threading.Event()
    started = None

    async def forever():
        try:
            yield "first"
            started.set()
            await asyncio.Event().wait()  # never set: only a cancel ends this
            yield "never"
        finally:
            finished.set()

    cls, _ = native("Native", forever)
    registry = registry_of(cls)

    async def main():
        nonlocal started
        started = asyncio.Event()
        completion = acreate_completion("m", USER, registry=registry)
        assert await completion.__anext__() == "first"
        pending = asyncio.create_task(completion.__anext__())
        await asyncio.wait_for(started.wait(), WAIT)
        await completion.aclose()
        with pytest.raises((asyncio.CancelledError, StopAsyncIteration)):
            await asyncio.wait_for(pending, WAIT)
        for _ in range(int(WAIT / 0.01)):
            if finished.is_set():
                break
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert finished.is_set(), "the provider's async generator was closed"
