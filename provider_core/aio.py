"""The async API: :func:`acreate_completion`, the twin of :func:`provider_core.create_completion`.

Same validation, routing, fallback and errors, because it drives the very same
:class:`~provider_core.routing.Completion`: input and routing errors are raised at the
call, before any request; provider errors while iterating; fallback happens only before
the first chunk; a fault after it raises :class:`~provider_core.errors.StreamInterrupted`.

How it runs: the sync completion runs in a worker thread of its own (one per
completion, started at the first ``__anext__``), which hands chunks to the event loop
through a small bounded buffer, so the loop never blocks and memory stays flat. A
provider with a native ``acreate_completion(model, messages, stream, **kwargs)``
classmethod (returning an async iterator of ``str``) is awaited on the caller's event
loop instead; the worker thread then only runs the shared fallback loop.

Cancellation (``aclose()``, leaving ``async with``, a cancelled task, or dropping the
iterator) stops the worker: a native provider's pending step is cancelled at once; a sync
provider is closed at its next chunk (or its read timeout), which closes the upstream
response and frees the connection. A closed completion reports no failure to the
circuit breaker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
import weakref
from collections.abc import AsyncIterator, Generator, Sequence
from typing import TYPE_CHECKING, Any

from .errors import StreamInterrupted
from .fallback import Completion
from .routing import open_completion

if TYPE_CHECKING:
    from .registry import Registry

__all__ = ["AsyncCompletion", "acreate_completion"]

#: Chunks the worker may read ahead of the consumer.
PREFETCH = 8
#: Seconds a native provider's ``aclose()`` may take when the completion is closed.
NATIVE_CLOSE_TIMEOUT = 5.0

_CHUNK, _END, _ERROR = 0, 1, 2


class _Cancelled(BaseException):
    """Raised in the worker when the consumer went away; not an ``Exception``, so the
    fallback loop neither falls back nor reports a failure for it."""


class _Channel:
    """What the worker thread and the consumer share (never the AsyncCompletion itself,
    so that dropping it un-iterated can stop the worker)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
        self.space = threading.Semaphore(PREFETCH)
        self.stop = threading.Event()
        self.inflight: concurrent.futures.Future[Any] | None = None
        self.thread: threading.Thread | None = None

    def send(self, kind: int, value: Any) -> bool:
        if kind == _CHUNK:
            self.space.acquire()
        if self.stop.is_set():
            return False
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (kind, value))
        except RuntimeError:  # the loop is closed: nobody is listening
            self.stop.set()
            return False
        return True

    def cancel(self) -> None:
        self.stop.set()
        self.space.release()  # wake a worker waiting for buffer space
        inflight = self.inflight
        if inflight is not None:
            inflight.cancel()


def _pump(completion: Completion, channel: _Channel) -> None:
    """The worker: run the sync completion, chunk by chunk, into the channel."""
    try:
        for chunk in completion:
            if not channel.send(_CHUNK, chunk):
                return
        channel.send(_END, None)
    except _Cancelled:
        pass
    except BaseException as exc:
        channel.send(_ERROR, exc)
    finally:
        completion.close()  # in this thread: closes the provider's response


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
        if channel.stop.is_set() or channel.loop.is_closed():
            coro.close()
            raise _Cancelled
        try:
            future = asyncio.run_coroutine_threadsafe(coro, channel.loop)
        except RuntimeError:  # the loop closed meanwhile: the consumer is gone, not a fault
            coro.close()
            raise _Cancelled from None
        channel.inflight = future
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

    def __init__(self, completion: Completion, channel_box: list[_Channel]) -> None:
        self._completion = completion
        self._box = channel_box
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
        channel = _Channel(asyncio.get_running_loop())
        self._box.append(channel)
        thread = threading.Thread(target=_pump, args=(self._completion, channel), name="provider-core-aio", daemon=True)
        channel.thread = thread
        self._channel = channel
        weakref.finalize(self, channel.cancel)
        thread.start()
        return channel

    async def __anext__(self) -> str:
        if self._done:
            raise StopAsyncIteration
        channel = self._channel or self._open()
        try:
            kind, value = await channel.queue.get()
        except BaseException:  # cancelled while waiting: stop the worker
            self._finish()
            raise
        if kind == _CHUNK:
            channel.space.release()
            return value
        self._done = True
        if kind == _END:
            raise StopAsyncIteration
        raise value

    def _finish(self) -> None:
        self._done = True
        if self._channel is not None:
            self._channel.cancel()
            self._channel.queue.put_nowait((_END, None))  # wake a pending __anext__
        else:
            self._completion.close()  # never started: nothing was sent

    async def aclose(self) -> None:
        """Stop the request; the worker closes the upstream response and exits."""
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
    **kwargs: Any,
) -> AsyncCompletion:
    """Validate, route and return an :class:`AsyncCompletion` (the arguments and errors of
    :func:`provider_core.create_completion`).

    ``async for chunk in acreate_completion(...)`` streams; ``await
    acreate_completion(..., stream=False)`` returns the whole text. Input and routing
    errors are raised here, synchronously; provider errors while iterating.
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
    return AsyncCompletion(completion, box)
