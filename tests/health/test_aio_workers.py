"""Where the async API runs sync providers: a bounded WorkerPool shared by completions,
read-ahead that gives its thread back to a slow consumer, bursts taken at once."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time

import pytest

from provider_core import acreate_completion
from provider_core.aio import PREFETCH
from provider_core.defaults import _threads_from_env
from provider_core.registry import Registry
from provider_core.workers import DEFAULT_THREADS, WorkerPool

USER = [{"role": "user", "content": "hi"}]
WAIT = 10.0  # generous bound for things that happen at once


def registry_of(*providers: type) -> Registry:
    registry = Registry(load_entry_points=False)
    for p in providers:
        registry.register(p)
    return registry


def until(predicate, timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


# -- the pool ---------------------------------------------------------------------------------


def test_the_pool_runs_at_most_its_threads_and_the_rest_wait_in_order():
    pool = WorkerPool(2)
    release = threading.Event()
    lock = threading.Lock()
    running, most, order = [0], [0], []

    def job(i: int):
        def run() -> None:
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
                order.append(i)
            release.wait(WAIT)
            with lock:
                running[0] -= 1

        return run

    for i in range(6):
        pool.submit(job(i))
    assert until(lambda: pool.busy == 2)
    stats = pool.statistics()
    assert (stats.alive, stats.busy, stats.waiting) == (2, 2, 4)
    release.set()
    assert until(lambda: len(order) == 6 and pool.busy == 0)
    assert most[0] == 2
    assert order[2:] == [2, 3, 4, 5], "waiting jobs run first come, first served"
    assert pool.statistics().alive == 2, "threads are reused, not started per job"


def test_idle_threads_retire_and_a_failing_job_does_not_kill_its_thread(caplog):
    pool = WorkerPool(1, idle_timeout=0.05)  # one thread: boom, then done.set, in order
    done = threading.Event()

    def boom() -> None:
        raise RuntimeError("job failed")

    with caplog.at_level(logging.ERROR, logger="provider_core.workers"):
        pool.submit(boom)
        pool.submit(done.set)
        assert done.wait(WAIT)
    assert "job failed" in caplog.text
    assert until(lambda: pool.statistics().alive == 0), "idle threads end after idle_timeout"
    again = threading.Event()
    pool.submit(again.set)
    assert again.wait(WAIT), "a retired pool starts threads again"


def test_the_pool_refuses_a_silly_size():
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="threads must be a positive integer"):
            WorkerPool(bad)  # type: ignore[arg-type]


def test_the_default_pool_size_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("PROVIDER_CORE_AIO_THREADS", "12")
    assert _threads_from_env(DEFAULT_THREADS) == 12
    monkeypatch.setenv("PROVIDER_CORE_AIO_THREADS", "lots")
    with pytest.warns(UserWarning, match="PROVIDER_CORE_AIO_THREADS='lots' is not a positive whole number"):
        assert _threads_from_env(DEFAULT_THREADS) == DEFAULT_THREADS


# -- completions sharing a pool -----------------------------------------------------------------


async def read_one_and_let_it_park(provider_cls: type, pool: WorkerPool):
    """A completion of ``provider_cls`` on ``pool``, read once, its job parked (thread free)."""
    completion = acreate_completion("m", USER, registry=registry_of(provider_cls), executor=pool)
    first = await completion.__anext__()
    assert await asyncio.to_thread(until, lambda: pool.busy == 0), "the reader-less job kept its thread"
    return completion, first


def test_completions_sharing_an_executor_never_run_more_than_its_threads(provider):
    lock = threading.Lock()
    running, most = [0], [0]

    def busy():
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            time.sleep(0.02)  # a provider waiting on its upstream
            yield "done"
        finally:
            with lock:
                running[0] -= 1

    cls, _ = provider("Busy", busy)
    registry = registry_of(cls)
    pool = WorkerPool(2)

    async def main():
        return await asyncio.gather(
            *(acreate_completion("m", USER, registry=registry, executor=pool) for _ in range(8))
        )

    assert asyncio.run(main()) == ["done"] * 8
    assert most[0] == 2, f"{most[0]} providers ran at once on a pool of 2 threads"


def test_a_slow_consumer_holds_no_thread(provider):
    """A reply nobody reads parks once its buffer is full and gives its thread back: on a
    pool of one thread, a second completion still runs to the end. (A job that kept
    reading would reach the provider's wait below and hold the only thread.)"""
    release = threading.Event()

    def long_then_wait():
        yield from ["xx"] * (4 * PREFETCH)
        assert release.wait(WAIT)
        yield "end"

    cls, script = provider("Long", long_then_wait, "short reply")
    registry = registry_of(cls)
    pool = WorkerPool(1)

    async def main():
        unread, first = await read_one_and_let_it_park(cls, pool)
        assert first == "xx"
        other = await asyncio.wait_for(acreate_completion("m", USER, registry=registry, executor=pool), WAIT)
        release.set()
        rest = [chunk async for chunk in unread]  # the parked one resumes when read again
        return other, "xx" + "".join(rest)

    other, first = asyncio.run(main())
    assert other == "short reply"
    assert first == "xx" * (4 * PREFETCH) + "end"
    assert script.calls == 2


def test_closing_a_parked_completion_closes_the_provider_at_once(provider):
    cls, script = provider("Long", "y" * 400)

    async def main():
        completion, _ = await read_one_and_let_it_park(cls, WorkerPool(1))
        assert script.closed == 0
        await completion.aclose()
        assert await asyncio.to_thread(until, lambda: script.closed == 1), "the parked generator was not closed"

    asyncio.run(main())


def test_ready_takes_a_burst_without_waiting_and_loses_nothing(provider):
    release = threading.Event()

    def burst():
        yield from (f"c{i} " for i in range(5))
        assert release.wait(WAIT)
        yield from (f"d{i} " for i in range(3))

    cls, _ = provider("Burst", burst)
    registry = registry_of(cls)

    async def main():
        completion = acreate_completion("m", USER, registry=registry)
        got = [await completion.__anext__()]
        deadline = time.monotonic() + WAIT
        while len(got) < 5 and time.monotonic() < deadline:
            got += completion.ready()
            await asyncio.sleep(0.005)
        assert completion.ready() == []
        release.set()
        got += [chunk async for chunk in completion]
        assert completion.ready() == []
        return got

    assert asyncio.run(main()) == [f"c{i} " for i in range(5)] + [f"d{i} " for i in range(3)]


def test_a_concurrent_futures_executor_works_too(provider):
    cls, _ = provider("Echo", "hello there")
    registry = registry_of(cls)

    async def main(executor):
        return await asyncio.gather(
            *(acreate_completion("m", USER, registry=registry, executor=executor) for _ in range(5))
        )

    with concurrent.futures.ThreadPoolExecutor(2) as executor:
        assert asyncio.run(main(executor)) == ["hello there"] * 5


def test_the_read_ahead_is_bounded(provider):
    """However fast the provider, at most PREFETCH chunks wait for the consumer."""
    pulled = [0]

    def fast():
        for i in range(10 * PREFETCH):
            pulled[0] += 1
            yield f"{i},"

    cls, _ = provider("Fast", fast)

    async def main():
        completion, _ = await read_one_and_let_it_park(cls, WorkerPool(1))
        ahead = pulled[0]
        await completion.aclose()
        return ahead

    ahead = asyncio.run(main())
    assert ahead <= PREFETCH + 1, f"{ahead} chunks pulled for one read"


def test_an_executor_that_is_shut_down_is_an_error_not_a_hang(provider):
    cls, _ = provider("Echo", "hello")
    registry = registry_of(cls)
    executor = concurrent.futures.ThreadPoolExecutor(1)
    executor.shutdown()

    async def main():
        completion = acreate_completion("m", USER, registry=registry, executor=executor)
        with pytest.raises(RuntimeError, match="shutdown"):
            await asyncio.wait_for(completion.__anext__(), WAIT)

    asyncio.run(main())
