"""The async API: :func:`acreate_completion`, the twin of :func:`provider_core.create_completion`.

Same validation, routing, fallback and errors, because it drives the very same
:class:`~provider_core.routing.Completion`: input and routing errors are raised at the
call, before any request; provider errors while iterating; fallback happens only before
the first chunk; a fault after it raises :class:`~provider_core.errors.StreamInterrupted`.

How it runs: the sync completion is pulled, chunk by chunk, by jobs in a bounded pool of
worker threads (:func:`~provider_core.defaults.default_pool` unless ``executor=`` names
another :class:`~provider_core.workers.WorkerPool`), so the event loop never blocks and,
however many completions are open, at most that many threads exist; the others wait their
turn. A job reads up to :data:`PREFETCH` chunks ahead into a buffer the consumer drains
without a thread hop per chunk; the loop is woken only when it waits, once per burst. When
the buffer is full the job ends and gives its thread back (a slow consumer holds no thread)
until the consumer has taken half (see :mod:`provider_core.channel`). A thread is thus held
while a provider works or waits on its upstream, never while a reply waits for its reader.
A provider with a native ``acreate_completion(model, messages, stream, **kwargs)``
classmethod (returning an async iterator of ``str``) is awaited on the caller's event loop
instead; the worker job then only runs the shared fallback loop.

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
import weakref
from collections.abc import AsyncIterator, Generator, Sequence
from typing import TYPE_CHECKING, Any

from .channel import END, PREFETCH, Cancelled, Channel, Executor
from .completion import open_completion, request_options
from .defaults import default_pool
from .errors import ProviderContractError, StreamInterrupted
from .events import Event, ToolCall, Usage
from .fallback import Completion
from .reply import ChatResult
from .workers import WorkerPool

if TYPE_CHECKING:
    from .registry import Registry

__all__ = ["PREFETCH", "AsyncCompletion", "Executor", "WorkerPool", "acreate_completion"]

#: Seconds a native provider's ``aclose()`` may take when the completion is closed.
NATIVE_CLOSE_TIMEOUT = 5.0


async def _guarded(awaitable: Any, provider: str) -> Any:
    """Await a native provider's step on the event loop. ``SystemExit`` and
    ``KeyboardInterrupt`` raised by provider code there would stop the loop (asyncio
    re-raises them out of a task), so they become this request's
    :class:`~provider_core.errors.ProviderContractError` instead."""
    try:
        return await awaitable
    except (SystemExit, KeyboardInterrupt) as exc:
        raise ProviderContractError(
            f"{provider} raised {type(exc).__name__}, not a ProviderError", provider=provider, rule="provider-error"
        ) from exc


class _NativeStream:
    """A sync iterator over a native async provider stream, run on the consumer's loop."""

    def __init__(self, result: Any, channel: Channel, provider: str) -> None:
        self._provider = provider
        self._result = result
        self._agen: Any = None
        self._channel = channel

    def __iter__(self) -> _NativeStream:
        return self

    def _await(self, coro: Any) -> Any:
        channel = self._channel
        if channel.stop or channel.loop.is_closed():
            coro.close()
            raise Cancelled
        try:
            future = asyncio.run_coroutine_threadsafe(coro, channel.loop)
        except RuntimeError:  # the loop closed meanwhile: the consumer is gone, not a fault
            coro.close()
            raise Cancelled from None
        channel.inflight = future
        if channel.stop:  # cancelled between the check above and now
            future.cancel()
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise Cancelled from None
        finally:
            channel.inflight = None

    def __next__(self) -> str:
        if self._agen is None:
            result = self._result
            if inspect.isawaitable(result) and not hasattr(result, "__anext__"):
                result = self._await(_guarded(result, self._provider))
            self._agen = result.__aiter__() if hasattr(result, "__aiter__") else result
        try:
            return self._await(_guarded(self._agen.__anext__(), self._provider))
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
    ``await`` it for the whole reply as a :class:`~provider_core.reply.ChatResult` (with
    ``partial_text`` on :class:`StreamInterrupted`, as ``create_completion(stream=False)``
    does). As on :class:`~provider_core.fallback.Completion`, iterating yields text only,
    ``tool_calls``, ``usage`` and ``finish_reason`` hold the rest once it is exhausted, and
    :meth:`events` yields every item in order. ``provider``, ``attempts`` and
    ``received_chars`` mirror the completion's. ``aclose()`` (or leaving ``async with``)
    stops the request."""

    def __init__(self, completion: Completion, channel_box: list[Channel], executor: Executor | None = None) -> None:
        self._completion = completion
        self._box = channel_box
        self._executor = executor
        self._channel: Channel | None = None
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

    @property
    def tool_calls(self) -> list[ToolCall]:
        return self._completion.tool_calls

    @property
    def usage(self) -> Usage | None:
        return self._completion.usage

    @property
    def finish_reason(self) -> str | None:
        return self._completion.finish_reason

    def __aiter__(self) -> AsyncCompletion:
        return self

    def _open(self) -> Channel:
        executor = self._executor if self._executor is not None else default_pool()
        channel = Channel(self._completion.events(), asyncio.get_running_loop(), executor)
        self._box.append(channel)
        self._channel = channel
        weakref.finalize(self, channel.cancel)
        channel.running = True
        channel.submit()
        return channel

    async def _next_item(self) -> Any:
        if self._done:
            raise StopAsyncIteration
        channel = self._channel or self._open()
        while True:
            with channel.lock:
                if channel.chunks:
                    item = channel.chunks.popleft()
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
                if end[0] == END:
                    raise StopAsyncIteration
                raise end[1]
            try:
                await waiter
            except BaseException:  # cancelled while waiting: stop the worker
                self._finish()
                raise
        if resume:
            channel.submit()
        return item

    async def __anext__(self) -> str:
        while True:
            item = await self._next_item()
            if type(item) is str:
                return item

    async def events(self) -> AsyncIterator[Event]:
        """The reply's items in order: ``str`` text and the events of
        :mod:`provider_core.events` (use this or plain iteration, not both)."""
        while True:
            try:
                item = await self._next_item()
            except StopAsyncIteration:
                return
            yield item

    def ready(self, events: bool = False) -> list[Any]:
        """The items that have already arrived, taken without waiting (maybe none): text
        only, or with ``events=True`` the events among them too.

        After a step of iteration, a consumer that handles several chunks at once takes
        the rest of a burst with it (the gateway sends them in one network write). An end
        or error that follows them is raised by the next step, as usual."""
        channel = self._channel
        if channel is None or self._done:
            return []
        with channel.lock:
            items = list(channel.chunks)
            channel.chunks.clear()
            resume = bool(items) and channel.taken()
        if resume:
            channel.submit()
        return items if events else [item for item in items if type(item) is str]

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

    async def text(self) -> ChatResult:
        """The whole reply: its text as a :class:`~provider_core.reply.ChatResult`."""
        parts: list[str] = []
        try:
            async for chunk in self:
                parts.append(chunk)
        except StreamInterrupted as exc:
            exc.keep_text(parts)
            raise
        finally:
            await self.aclose()
        return ChatResult(
            "".join(parts),
            tool_calls=self.tool_calls,
            usage=self.usage,
            finish_reason=self.finish_reason,
            provider=self.provider,
        )

    def __await__(self) -> Generator[Any, None, ChatResult]:
        return self.text().__await__()


def acreate_completion(
    model: str,
    messages: Any,
    stream: bool = True,
    provider: str | type | None = None,
    *,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: str | dict[str, Any] | None = None,
    response_format: dict[str, Any] | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    top_p: float | None = None,
    stop: str | list[str] | None = None,
    seed: int | None = None,
    registry: Registry | None = None,
    prefer: Sequence[str] | None = None,
    include_not_working: bool = False,
    executor: Executor | None = None,
    **options: Any,
) -> AsyncCompletion:
    """Validate, route and return an :class:`AsyncCompletion` (the arguments and errors of
    :func:`provider_core.create_completion`).

    ``async for chunk in acreate_completion(...)`` streams; ``await
    acreate_completion(..., stream=False)`` returns the whole reply (a
    :class:`~provider_core.reply.ChatResult`). Input and routing
    errors are raised here, synchronously; provider errors while iterating.

    ``executor`` is where the sync provider's steps run: a :class:`~provider_core.workers.WorkerPool`
    (or a thread-based ``concurrent.futures.Executor``) shared by the completions that should
    share its threads; by default :func:`provider_core.defaults.default_pool`.
    """
    box: list[Channel] = []

    def call(cls: type, model: str, messages: Any, stream: bool, options: dict[str, Any]) -> Any:
        native = getattr(cls, "acreate_completion", None)
        if native is None or not box:
            return cls.create_completion(model, messages, stream, **options)
        return _NativeStream(native(model, messages, stream, **options), box[-1], cls.name)

    completion = open_completion(
        model,
        messages,
        stream,
        provider,
        registry=registry,
        prefer=prefer,
        include_not_working=include_not_working,
        call=call,
        **request_options(tools, tool_choice, response_format, max_tokens, temperature, top_p, stop, seed, options),
    )
    return AsyncCompletion(completion, box, executor)
