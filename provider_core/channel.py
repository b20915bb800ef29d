"""Pumping a sync iterator into an event loop from worker threads: the heart of the async API.

A :class:`Channel` is shared by one :class:`~provider_core.aio.AsyncCompletion` (the
consumer, on the event loop) and the worker jobs that run its sync completion (the
producer, in an :class:`Executor`, usually a :class:`~provider_core.workers.WorkerPool`).
A job pulls chunks into a buffer until :data:`PREFETCH` wait, the reply ends, or the
consumer is gone; a full buffer ends the job (the thread goes back to the pool) until the
consumer has taken half, when a new job is submitted. The loop is woken only when the
consumer waits, once however many chunks arrive meanwhile. Cancelling closes the
completion in a worker thread: at once when no job runs, else when the current ``next()``
returns.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from .abort import Aborted, AbortScope, running_in

__all__ = ["END", "ERROR", "PREFETCH", "Cancelled", "Channel", "Executor"]

#: Chunks a worker job may read ahead of the consumer.
PREFETCH = 16

END, ERROR = 1, 2


class Executor(Protocol):
    """Where worker jobs run: a :class:`~provider_core.workers.WorkerPool` or a thread-based
    :class:`concurrent.futures.Executor` (``ThreadPoolExecutor``); only ``submit(fn)`` is used."""

    def submit(self, fn: Callable[[], Any], /) -> Any: ...


#: Raised in the worker when the consumer went away (see :mod:`provider_core.abort`).
Cancelled = Aborted


class Channel:
    """What the worker jobs and the consumer share (never the AsyncCompletion itself, so
    that dropping it un-iterated can stop the worker). Every field below ``lock`` is read
    and written under it. ``completion`` is an iterator (of text and events) with ``close()``."""

    def __init__(self, completion: Iterator[Any], loop: asyncio.AbstractEventLoop, executor: Executor) -> None:
        self.completion = completion
        self.scope = AbortScope()  # cancel() cuts the provider's blocked upstream read with it
        self.loop = loop
        self.executor = executor
        self.inflight: concurrent.futures.Future[Any] | None = None  # a native step awaited on the loop
        self.lock = threading.RLock()  # a finalizer may cancel from a thread holding it
        self.chunks: deque[Any] = deque()
        self.end: tuple[int, Any] | None = None  # (END, None) or (ERROR, exc), after the chunks
        self.running = False  # a job is submitted or running
        self.closed = False  # the completion is closed
        self.stop = False  # the consumer is gone
        self.waiter: asyncio.Future[None] | None = None  # the consumer waits on it
        self.wake_pending = False  # a wake-up is on its way to the loop

    # -- the worker side ------------------------------------------------------------------

    def submit(self) -> None:
        """Run :meth:`pump` in the executor (the caller set ``running``)."""
        try:
            self.executor.submit(self.pump)
        except RuntimeError as exc:  # a concurrent.futures executor that is shut down
            with self.lock:
                self.closed = True  # nothing will read further; dropping it closes the generator
                self.running = False
            self._put_end((ERROR, exc))

    def pump(self) -> None:
        """One job: pull chunks until the buffer is full (then give the thread back), the
        reply ends, or the consumer is gone (then close the completion)."""
        with running_in(self.scope):
            self._pump()

    def _pump(self) -> None:
        completion = self.completion
        while True:
            with self.lock:
                if self.stop:
                    break
                if len(self.chunks) >= PREFETCH:
                    self.running = False
                    return
            try:
                chunk = next(completion)
            except StopIteration:
                self._put_end((END, None))
                break
            except Cancelled:
                break
            except BaseException as exc:
                self._put_end((ERROR, exc))
                break
            with self.lock:
                if self.stop:
                    break
                self.chunks.append(chunk)
                wake = self._wake_needed()
            if wake:
                self._wake()
        self.pump_stopped()

    def pump_stopped(self) -> None:
        """Close the completion (in this thread: it closes the provider's response)."""
        try:
            self.completion.close()
        except Exception:
            pass
        with self.lock:
            self.closed = True
            self.running = False

    def _put_end(self, end: tuple[int, Any]) -> None:
        with self.lock:
            self.end = end
            wake = self._wake_needed()
        if wake:
            self._wake()

    def _wake_needed(self) -> bool:
        if self.waiter is None or self.wake_pending:
            return False
        self.wake_pending = True
        return True

    def _wake(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self._woken)
        except RuntimeError:  # the loop is closed: nobody is listening
            with self.lock:
                self.stop = True

    # -- the loop side --------------------------------------------------------------------

    def taken(self) -> bool:
        """Under ``lock``, after the consumer took chunks: whether to restart a parked job
        (half the buffer is free again); it is then marked running."""
        if self.running or self.end is not None or self.stop or len(self.chunks) > PREFETCH // 2:
            return False
        self.running = True
        return True

    def _woken(self) -> None:
        with self.lock:
            self.wake_pending = False
            waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def cancel(self) -> None:
        """Stop reading: the job closes the completion, now if it is parked (any thread)."""
        self.scope.abort()
        with self.lock:
            self.stop = True
            self.chunks.clear()
            restart = not self.running and not self.closed
            if restart:
                self.running = True
            waiter, self.waiter = self.waiter, None
        inflight = self.inflight
        if inflight is not None:
            inflight.cancel()
        if restart:
            self.submit()
        if waiter is not None:
            try:
                self.loop.call_soon_threadsafe(_release, waiter)
            except RuntimeError:
                pass


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
