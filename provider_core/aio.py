"""The async API: :func:`acreate_completion`, the twin of :func:`provider_core.create_completion`.

Same validation, routing, fallback and errors, because it drives the very same
:class:`~provider_core.routing.Completion`: input and routing errors are raised at the
call, before any request; provider errors while iterating; fallback happens only before
the first chunk; a fault after it raises :class:`~provider_core.errors.StreamInterrupted`.

How it runs: the sync completion is pulled, chunk by chunk, by a job in a bounded pool of
worker threads (:class:`~provider_core.workers.WorkerPool`; :func:`~provider_core.workers.default_pool`
unless ``executor=`` names another), so the event loop never blocks and however many
completions are open, at most that many threads exist; the others wait their turn. The job
reads up to :data:`PREFETCH` chunks ahead into a buffer the consumer drains without a thread
hop per chunk: the loop is woken only when it is waiting (once per batch, however many
chunks arrived). When the buffer is full the job ends and gives its thread back (a slow
consumer holds no thread); it is submitted again once the consumer has taken half.
A thread is thus held while a provider is working or waiting on its upstream, never while
a reply waits for its reader. A provider with a native ``acreate_completion(model,
messages, stream, **kwargs)`` classmethod (returning an async iterator of ``str``) is
awaited on the caller's event loop instead; the worker job then only runs the shared
fallback loop.

Cancellation (``aclose()``, leaving ``async with``, a cancelled task, or dropping the
iterator) stops the job: a native provider's pending step is cancelled at once; a sync
provider is closed at its next chunk (or its read timeout), which closes the upstream
response and frees the connection; a job parked on a full buffer is closed at once, in a
worker thread. A closed completion reports no failure to the circuit breaker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from .errors import StreamInterrupted
from .fallback import Completion
from .routing import open_completion
from .workers import WorkerPool, default_pool

if TYPE_CHECKING:
    from .registry import Registry

__all__ = ["AsyncCompletion", "Executor", "WorkerPool", "acreate_completion", "default_pool"]

#: Chunks a worker job may read ahead of the consumer.
PREFETCH = 16
#: Seconds a native provider's ``aclose()`` may take when the completion is closed.
NATIVE_CLOSE_TIMEOUT = 5.0

_END, _ERROR = 1, 2


class Executor(Protocol):
    """Where worker jobs run: a :class:`~provider_core.workers.WorkerPool` or a thread-based
    :class:`concurrent.futures.Executor` (``ThreadPoolExecutor``); only ``submit(fn)`` is used."""

    def submit(self, fn: Callable[[], Any], /) -> Any: ...


class _Cancelled(BaseException):
    """Raised in the worker when the consumer went away; not an ``Exception``, so the
    fallback loop neither falls back nor reports a failure for it."""


class _Channel:
    """What the worker jobs and the consumer share (never the AsyncCompletion itself, so
    that dropping it un-iterated can stop the worker). Every field below ``lock`` is read
    and written under it."""

    def __init__(self, completion: Completion, loop: asyncio.AbstractEventLoop, executor: Executor) -> None:
        self.completion = completion
        self.loop = loop
        self.executor = executor
        self.inflight: concurrent.futures.Future[Any] | None = None  # a native step awaited on the loop
        self.lock = threading.RLock()  # a finalizer may cancel from a thread holding it
        self.chunks: deque[str] = deque()
        self.end: tuple[int, Any] | None = None  # (_END, None) or (_ERROR, exc), after the chunks
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
            self._put_end((_ERROR, exc))

    def pump(self) -> None:
        """One job: pull chunks until the buffer is full (then give the thread back), the
        reply ends, or the consumer is gone (then close the completion)."""
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
                self._put_end((_END, None))
                break
            except _Cancelled:
                break
            except BaseException as exc:
                self._put_end((_ERROR, exc))
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


async def _step(agen: Any) -> Any:
    return await agen.__anext__()


async def _resolve(result: Any) -> Any:
    return await result


class _NativeStream:
    """A sync iterator over a native async provider stream, run on the consumer's loop."""

    def __init__(self, result: Any, channel: _Channel) -> None:
        self._result = result
        self._agen: Any = None
        self._channel = channel

    def __iter__(self) -> _NativeStream:
        return self

    def _await(self, coro: Any) -> Any:
        channel = self._channel
        if channel.stop or channel.loop.is_closed():
            coro.close()
            raise _Cancelled
        try:
            future = asyncio.run_coroutine_threadsafe(coro, channel.loop)
        except RuntimeError:  # the loop closed meanwhile: the consumer is gone, not a fault
            coro.close()
            raise _Cancelled from None
        channel.inflight = future
        if channel.stop:  # cancelled between the check above and now
            future.cancel()
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise _Cancelled from None
        finally:
            channel.inflight = None

    def __next__(self) -> str:
        if self._agen is None:
            result = self._result
            if inspect.isawaitable(result) and not hasattr(result, "__anext__"):
                result = self._await(_resolve(result))
            self._agen = result.__aiter__() if hasattr(result, "__aiter__") else result
        try:
            return self._await(_step(self._agen))
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self) -> None:
        aclose = getattr(self._agen, "aclose", None)
        if aclose is None or self._channel.loop.is_closed():
            return
        try:
            future = asyncio.run_coroutine_threadsafe(aclose(), self._channel.loop)
            future.result(timeout=NATIVE_CLOSE_TIMEOUT)
        except Exception:
            pass


class AsyncCompletion(AsyncIterator[str]):
    """The reply of :func:`acreate_completion`: ``async for`` it for text chunks, or
    ``await`` it for the whole text (with ``partial_text`` on :class:`StreamInterrupted`,
    as ``create_completion(stream=False)`` does). ``provider``, ``attempts`` and
    ``received_chars`` mirror :class:`~provider_core.routing.Completion`. ``aclose()`` (or
    leaving ``async with``) stops the request."""

    def __init__(self, completion: Completion, channel_box: list[_Channel], executor: Executor | None = None) -> None:
        self._completion = completion
        self._box = channel_box
        self._executor = executor
        self._channel: _Channel | None = None
        self._done = False

    @property
    def model(self) -> str:
        return self._completion.model

    @property
    def provider(self) -> str | None:
        return self._completion.provider

    @property
    def attempts(self) -> list[Any]:
        return self._completion.attempts

    @property
    def received_chars(self) -> int:
        return self._completion.received_chars

    def __aiter__(self) -> AsyncCompletion:
        return self

    def _open(self) -> _Channel:
        executor = self._executor if self._executor is not None else default_pool()
        channel = _Channel(self._completion, asyncio.get_running_loop(), executor)
        self._box.append(channel)
        self._channel = channel
        weakref.finalize(self, channel.cancel)
        channel.running = True
        channel.submit()
        return channel

    async def __anext__(self) -> str:
        if self._done:
            raise StopAsyncIteration
        channel = self._channel or self._open()
        while True:
            with channel.lock:
                if channel.chunks:
                    chunk = channel.chunks.popleft()
                    resume = channel.taken()
                    break
                if channel.stop:
                    self._done = True
                    raise StopAsyncIteration
                end = channel.end
                if end is None:
                    waiter = channel.waiter = channel.loop.create_future()
            if end is not None:
                self._done = True
                if end[0] == _END:
                    raise StopAsyncIteration
                raise end[1]
            try:
                await waiter
            except BaseException:  # cancelled while waiting: stop the worker
                self._finish()
                raise
        if resume:
            channel.submit()
        return chunk

    def ready(self) -> list[str]:
        """The chunks that have already arrived, taken without waiting (maybe none).

        After a step of ``async for``, a consumer that handles several chunks at once takes
        the rest of a burst with it (the gateway sends them in one network write). An end
        or error that follows them is raised by the next step, as usual."""
        channel = self._channel
        if channel is None or self._done:
            return []
        with channel.lock:
            chunks = list(channel.chunks)
            channel.chunks.clear()
            resume = bool(chunks) and channel.taken()
        if resume:
            channel.submit()
        return chunks

    def _finish(self) -> None:
        self._done = True
        if self._channel is not None:
            self._channel.cancel()
        else:
            self._completion.close()  # never started: nothing was sent

    async def aclose(self) -> None:
        """Stop the request: the worker closes the upstream response at once if it is
        parked, else as soon as the provider's current read returns."""
        self._finish()

    async def __aenter__(self) -> AsyncCompletion:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def text(self) -> str:
        """The whole reply as one string."""
        parts: list[str] = []
        try:
            async for chunk in self:
                parts.append(chunk)
        except StreamInterrupted as exc:
            if parts or exc.partial_text is None:
                exc.partial_text = "".join(parts)
            raise
        finally:
            await self.aclose()
        return "".join(parts)

    def __await__(self) -> Generator[Any, None, str]:
        return self.text().__await__()


def acreate_completion(
    model: str,
    messages: Any,
    stream: bool = True,
    provider: str | type | None = None,
    *,
    registry: Registry | None = None,
    prefer: Sequence[str] | None = None,
    include_not_working: bool = False,
    executor: Executor | None = None,
    **kwargs: Any,
) -> AsyncCompletion:
    """Validate, route and return an :class:`AsyncCompletion` (the arguments and errors of
    :func:`provider_core.create_completion`).

    ``async for chunk in acreate_completion(...)`` streams; ``await
    acreate_completion(..., stream=False)`` returns the whole text. Input and routing
    errors are raised here, synchronously; provider errors while iterating.

    ``executor`` is where the sync provider's steps run: a :class:`~provider_core.workers.WorkerPool`
    (or a thread-based ``concurrent.futures.Executor``) shared by the completions that should
    share its threads; by default :func:`provider_core.workers.default_pool`.
    """
    box: list[_Channel] = []

    def call(cls: type, model: str, messages: Any, stream: bool, options: dict[str, Any]) -> Any:
        native = getattr(cls, "acreate_completion", None)
        if native is None or not box:
            return cls.create_completion(model, messages, stream, **options)
        return _NativeStream(native(model, messages, stream, **options), box[-1])

    completion = open_completion(
        model,
        messages,
        stream,
        provider,
        registry=registry,
        prefer=prefer,
        include_not_working=include_not_working,
        call=call,
        **kwargs,
    )
    return AsyncCompletion(completion, box, executor)
