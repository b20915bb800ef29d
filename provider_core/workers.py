"""A bounded pool of worker threads: where the async API runs sync providers.

:class:`WorkerPool` runs submitted jobs in at most ``threads`` daemon threads; a job
submitted while every thread is busy waits its turn (first come, first served) instead of
starting one more thread. Threads start on demand, are reused (the most recently idle
first, so a quiet pool keeps few of them warm) and exit after ``idle_timeout`` seconds
without work. A job hands over to an idle thread directly, through a lock of that thread's
own, the cheapest wake-up CPython has.

:func:`provider_core.defaults.default_pool` is the process-wide pool that
:func:`provider_core.acreate_completion` uses unless given ``executor=``; its size is
:data:`DEFAULT_THREADS`, or ``PROVIDER_CORE_AIO_THREADS`` when set.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DEFAULT_THREADS", "PoolStatistics", "WorkerPool"]

log = logging.getLogger("provider_core.workers")

#: Size of the async API's default pool unless ``PROVIDER_CORE_AIO_THREADS`` says otherwise.
DEFAULT_THREADS = 256


@dataclass(frozen=True)
class PoolStatistics:
    """A snapshot: ``threads`` (the bound), ``alive`` threads, ``busy`` ones (running a
    job) and ``waiting`` jobs (submitted, no thread free yet)."""

    threads: int
    alive: int
    busy: int
    waiting: int


class _Worker:
    """One thread and the lock it sleeps on while idle (held = nothing to do)."""

    __slots__ = ("job", "wake")

    def __init__(self, job: Callable[[], object] | None) -> None:
        self.job = job
        self.wake = threading.Lock()
        self.wake.acquire()


class WorkerPool:
    """At most ``threads`` daemon threads running submitted jobs; more jobs wait in order.

    ``submit(job)`` never blocks and may be called from any thread (an event loop, a
    finalizer, another worker). A job should catch its own errors: one that escapes is
    logged and the thread carries on.
    """

    def __init__(self, threads: int, *, idle_timeout: float = 10.0, name: str = "provider-core-worker") -> None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads <= 0:
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        self.threads = threads
        self.idle_timeout = idle_timeout
        self.name = name
        self._lock = threading.Lock()
        self._jobs: deque[Callable[[], object]] = deque()
        self._idle: list[_Worker] = []
        self._alive = 0

    def __repr__(self) -> str:
        s = self.statistics()
        return f"<WorkerPool threads={s.threads} alive={s.alive} busy={s.busy} waiting={s.waiting}>"

    def submit(self, job: Callable[[], object]) -> None:
        """Run ``job()`` in a worker thread: an idle one, a new one, or the first to be free."""
        with self._lock:
            if self._idle:
                worker = self._idle.pop()
                worker.job = job
                worker.wake.release()
                return
            if self._alive >= self.threads:
                self._jobs.append(job)
                return
            self._alive += 1
        worker = _Worker(job)
        try:
            threading.Thread(target=self._run, args=(worker,), name=self.name, daemon=True).start()
        except BaseException:
            with self._lock:
                self._alive -= 1
            raise

    @property
    def busy(self) -> int:
        """Threads running a job now."""
        with self._lock:
            return self._alive - len(self._idle)

    @property
    def waiting(self) -> int:
        """Jobs waiting for a thread."""
        return len(self._jobs)

    def statistics(self) -> PoolStatistics:
        with self._lock:
            return PoolStatistics(self.threads, self._alive, self._alive - len(self._idle), len(self._jobs))

    def _run(self, worker: _Worker) -> None:
        job = worker.job
        while job is not None:
            worker.job = None
            try:
                job()
            except BaseException:
                log.exception("a job in %s failed", self.name)
            job = self._next(worker)

    def _next(self, worker: _Worker) -> Callable[[], object] | None:
        """The next job for ``worker``: a waiting one, else one handed over while it is idle;
        ``None`` when it stayed idle for ``idle_timeout`` (the thread then ends)."""
        with self._lock:
            if self._jobs:
                return self._jobs.popleft()
            self._idle.append(worker)
        if worker.wake.acquire(timeout=self.idle_timeout):
            return worker.job
        with self._lock:
            if worker in self._idle:  # nobody handed it a job: retire
                self._idle.remove(worker)
                self._alive -= 1
                return None
        worker.wake.acquire()  # a job was handed over just as the wait ended: it is coming
        return worker.job
