"""Running the core's synchronous calls in worker threads, without blocking the event loop.

Providers are sync generators that block on the network. Each blocking step (validation and
routing plus the wait for the first chunk; then each next chunk; then ``close()``) runs in a
worker thread taken from one :class:`anyio.CapacityLimiter`, so at most ``threads`` provider
calls run at once and the rest wait their turn instead of piling up threads.

:func:`open_stream` returns only once the first chunk is there, so every failure before it
(unknown model, no provider, an upstream 429...) can still become a proper HTTP status.
The :class:`ThreadedStream` it returns yields the remaining chunks (:meth:`~ThreadedStream.chunks`)
and is closed with :meth:`~ThreadedStream.aclose` however the response ends (finished,
failed, the client gone, the server shutting down), which closes the
:class:`~provider_core.routing.Completion`: the provider's generator and its upstream
response. A lock orders ``close`` after a ``next`` still running in its thread (a cancelled
task may have stopped waiting for it), since a generator cannot be closed while it runs.
A thread blocked in a provider's read cannot be interrupted; it is freed when that read
returns (the next chunk, or the provider's read timeout).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import anyio

__all__ = ["ThreadedStream", "open_stream", "run_sync"]

T = TypeVar("T")
_END = object()


async def run_sync(func: Callable[[], T], limiter: anyio.CapacityLimiter | None = None) -> T:
    """``func()`` in a worker thread under ``limiter`` (default: anyio's own pool)."""
    return await anyio.to_thread.run_sync(func, limiter=limiter)


def _next(iterator: Any) -> Any:
    try:
        return next(iterator)
    except StopIteration:
        return _END


class ThreadedStream:
    """A Completion whose steps run in worker threads, one at a time."""

    def __init__(self, completion: Any, limiter: anyio.CapacityLimiter) -> None:
        self.completion = completion
        self.limiter = limiter
        self._lock = threading.Lock()
        self._closed = False

    @property
    def provider(self) -> str | None:
        """The provider that answered (set once the first chunk arrived)."""
        return getattr(self.completion, "provider", None)

    def next_sync(self) -> Any:
        with self._lock:
            return _END if self._closed else _next(self.completion)

    def rest_sync(self) -> str:
        """Every chunk still to come, joined (for a non-streamed reply)."""
        with self._lock:
            return "" if self._closed else "".join(self.completion)

    def close_sync(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self.completion.close()

    async def chunks(self) -> AsyncIterator[str]:
        """The chunks still to come, each fetched in a worker thread."""
        while True:
            chunk = await run_sync(self.next_sync, self.limiter)
            if chunk is _END:
                return
            yield chunk

    async def aclose(self) -> None:
        """Close the Completion in a worker thread, shielded from cancellation."""
        with anyio.CancelScope(shield=True):
            await run_sync(self.close_sync, self.limiter)


async def open_stream(start: Callable[[], Any], limiter: anyio.CapacityLimiter) -> tuple[ThreadedStream, str | None]:
    """Call ``start()`` (which returns a Completion) and wait for its first chunk, in one
    worker thread. Returns the stream and the first chunk (``None`` for an empty reply).
    On an error the Completion is closed before the error propagates."""

    def begin() -> tuple[ThreadedStream, str | None]:
        stream = ThreadedStream(start(), limiter)
        try:
            first = stream.next_sync()
        except BaseException:
            stream.close_sync()
            raise
        return stream, (None if first is _END else first)

    return await run_sync(begin, limiter)
