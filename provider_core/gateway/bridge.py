"""Running the core's synchronous calls in worker threads, without blocking the event loop.

Providers are sync generators that block on the network. Each blocking step (validation and
routing plus the wait for the first chunk; then each next chunk; then ``close()``) runs in a
worker thread taken from one :class:`anyio.CapacityLimiter`, so at most ``threads`` provider
calls run at once and the rest wait their turn instead of piling up threads.

A stream is opened by :func:`open_stream`, which returns only once the first chunk is there:
every failure before it (unknown model, no provider, an upstream 429...) can still become a
proper HTTP status. :func:`relay` then yields the remaining chunks, and however the
response ends (finished, failed, cancelled because the client went away, or the server
shutting down), :func:`close_in_thread` closes the :class:`~provider_core.routing.Completion`,
which closes the provider's generator and its upstream response. A thread blocked in a provider's read
cannot be interrupted; it is freed when that read returns (next chunk or read timeout).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import anyio

__all__ = ["close_in_thread", "open_stream", "relay", "run_sync"]

T = TypeVar("T")
_END = object()


async def run_sync(func: Callable[[], T], limiter: anyio.CapacityLimiter) -> T:
    """``func()`` in a worker thread under ``limiter``."""
    return await anyio.to_thread.run_sync(func, limiter=limiter)


def _next(iterator: Any) -> Any:
    try:
        return next(iterator)
    except StopIteration:
        return _END


async def open_stream(start: Callable[[], Any], limiter: anyio.CapacityLimiter) -> tuple[Any, str | None]:
    """Call ``start()`` (returns a Completion) and wait for its first chunk, in one thread.

    Returns ``(completion, first_chunk)``; ``first_chunk`` is ``None`` for an empty reply.
    On any error the completion is closed before the error propagates.
    """

    def begin() -> tuple[Any, str | None]:
        completion = start()
        try:
            first = _next(completion)
        except BaseException:
            completion.close()
            raise
        return completion, (None if first is _END else first)

    return await run_sync(begin, limiter)


async def close_in_thread(completion: Any, limiter: anyio.CapacityLimiter) -> None:
    """Close ``completion`` in a worker thread, shielded from cancellation."""
    with anyio.CancelScope(shield=True):
        await run_sync(completion.close, limiter)


async def relay(completion: Any, limiter: anyio.CapacityLimiter) -> AsyncIterator[str]:
    """The chunks after the first, each fetched in a worker thread.

    It does not close ``completion``: whoever opened it closes it with
    :func:`close_in_thread` in a ``finally``, which runs even when this generator was
    never started (a client gone before the first byte was sent).
    """
    while True:
        chunk = await run_sync(lambda: _next(completion), limiter)
        if chunk is _END:
            return
        yield chunk
