"""The streamed chat reply as an ASGI response: SSE events relayed from a Completion.

:func:`open_stream` waits for the reply's first text or tool call, but no longer than the
keep-alive interval (``PROVIDER_CORE_SSE_KEEPALIVE``, 15 s; 0: as long as it takes): every
failure before it (no provider, an upstream 429, fallback exhausted) is then still an HTTP
status of its own. A model that thinks longer gets its 200 and ``: keep-alive`` comments
meanwhile, so that proxies and load balancers do not cut a silent connection; fallback
before the first chunk still happens inside. While a stream is silent, after its first
chunk too, a comment goes out every interval. A failure after the status was sent becomes
one ``data: {"error": {...}}`` event followed by ``data: [DONE]``.

When the client disconnects (or a bounded graceful shutdown ends), Starlette cancels the
sending; the ``finally`` here then closes the :class:`~provider_core.aio.AsyncCompletion`,
which stops the upstream request and gives its worker thread back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.responses import StreamingResponse

from ..aio import AsyncCompletion
from ..events import ToolCall, ToolCallDelta
from .asgi import Receive, Scope, Send, send_error
from .errors import api_error_from, log_message, logged_api_error
from .request import ChatRequest
from .sse import DONE, ChatReply, encode_event
from .usage import reported_or_estimated

__all__ = ["DELIVERS", "KEEPALIVE", "CompletionStream", "open_stream"]

log = logging.getLogger("provider_core.gateway")

#: The items that start a reply (the core's rule too: see provider_core.fallback).
DELIVERS = (str, ToolCallDelta, ToolCall)
#: The SSE comment sent while a stream is silent (clients ignore comments).
KEEPALIVE = b": keep-alive\n\n"


async def _first_items(items: AsyncIterator[Any], completion: AsyncCompletion, ticket: Any) -> list[Any]:
    """The items up to the reply's first text or tool call."""
    first: list[Any] = []
    async for item in items:
        first.append(item)
        if type(item) in DELIVERS:
            if ticket is not None:
                ticket.first_chunk(completion.provider)
            return first
    raise RuntimeError("the completion ended before its first chunk")  # not with the core's Completion


async def _close(completion: AsyncCompletion, items: Any) -> None:
    with anyio.CancelScope(shield=True):
        await items.aclose()
        await completion.aclose()


async def open_stream(
    completion: AsyncCompletion, chat: ChatRequest, keepalive: float, ticket: Any = None
) -> CompletionStream:
    """The response for ``completion``. With ``keepalive`` 0, once its first chunk is there
    (an error before it is raised here, for the caller to answer with its own status);
    otherwise at once: the response holds its status until the first chunk, or
    ``keepalive`` seconds, and answers an error before then with its own status."""
    items = completion.events()
    if keepalive:
        return CompletionStream(completion, None, items, ChatReply(chat.model), chat, keepalive, ticket)
    try:
        first = await _first_items(items, completion, ticket)
    except BaseException:  # its error, or this request cancelled: stop the provider
        await _close(completion, items)
        raise
    return CompletionStream(completion, first, items, ChatReply(chat.model, completion.provider), chat, 0.0, ticket)


class CompletionStream:
    """ASGI app sending one stream as ``text/event-stream``, then closing it. ``first``: the
    items that arrived up to the reply's first text or tool call, or ``None`` when they are
    still to come (the status is then held until they are, or ``keepalive`` seconds);
    ``items`` the rest (``completion.events()``, maybe begun); ``chat`` the request (what a
    usage estimate counts, and whether usage was asked for); ``keepalive`` seconds of
    silence before a comment (0: none); ``ticket`` the request's :class:`~.exchange.Exchange`
    when operations features need one."""

    def __init__(
        self,
        completion: AsyncCompletion,
        first: list[Any] | None,
        items: AsyncIterator[Any],
        reply: ChatReply,
        chat: ChatRequest,
        keepalive: float = 0.0,
        ticket: Any = None,
    ) -> None:
        self.completion = completion
        self.first = first
        self.items = items
        self.reply = reply
        self.chat = chat
        self.keepalive = keepalive
        self.ticket = ticket
        self.accounted = False
        self.sender: _Sender | None = None

    def _with_ready(self, event: bytes) -> bytes:
        """``event`` and one event for each item that has already arrived: a burst goes
        out in one write."""
        more = self.completion.ready(events=True)
        if not more:
            return event
        item = self.reply.item
        return b"".join([event, *(item(c) for c in more)])

    async def _events(self) -> AsyncIterator[bytes]:
        reply = self.reply
        try:
            first = self.first
            if first is None:
                first = await _first_items(self.items, self.completion, self.ticket)
                reply.provider = self.completion.provider
            yield self._with_ready(b"".join(reply.item(c) for c in first))
            async for item in self.items:
                events = self._with_ready(reply.item(item))
                if events:  # a usage or finish reason alone goes out at the end
                    yield events
        except Exception as exc:
            if self.sender is not None and not self.sender.started:
                raise _BeforeStatus(exc) from exc  # the status is still ours to choose
            error = api_error_from(exc)
            if error.status >= 500 and error.code == "internal_error":
                log.error("stream %s failed", reply.id, exc_info=exc)
            else:
                log.warning("stream %s failed after its status was sent: %s", reply.id, log_message(exc))
            if self.ticket is not None:
                self.ticket.failed(error.code)
            yield encode_event(error.body()) + DONE
            return
        completion = self.completion
        finish = completion.finish_reason or ("tool_calls" if completion.tool_calls else "stop")
        if self.ticket is not None:  # before the end goes out: the next request sees the count
            await self._account(finish)
        yield reply.final_chunk(finish)
        if self.chat.include_usage:
            usage, estimated = reported_or_estimated(
                completion.usage, self.chat.messages, self.chat.options, reply.sent_chars
            )
            yield reply.usage_chunk(usage, estimated)
        yield DONE

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        events = self._events()
        headers = {"cache-control": "no-cache", "x-accel-buffering": "no"}
        if self.reply.provider:
            headers["x-provider-core-provider"] = self.reply.provider
        response = StreamingResponse(events, media_type="text/event-stream", headers=headers)
        try:
            if not self.keepalive:
                await response(scope, receive, send)
                return
            sender = self.sender = _Sender(send, self.keepalive, self.completion, self.first is not None)
            try:
                await response(scope, receive, sender.send)
            except _BeforeStatus as failed:  # no byte sent yet: the error's own status, no reply to count
                self.accounted = True
                await send_error(send, logged_api_error(failed.error))
            finally:
                sender.stop()
        finally:
            with anyio.CancelScope(shield=True):
                await events.aclose()
                await _close(self.completion, self.items)
                if self.ticket is not None and not self.accounted:
                    await self._account()

    async def _account(self, finish: str | None = None) -> None:
        """Tell the ticket the reply's usage (the provider's, else an estimate of what was sent)."""
        self.accounted = True
        completion, chat = self.completion, self.chat
        usage, _ = reported_or_estimated(completion.usage, chat.messages, chat.options, self.reply.sent_chars)
        try:
            await self.ticket.replied(completion.provider, usage, finish)
        except Exception:  # accounting never breaks a reply
            log.exception("stream %s: counting its usage failed", self.reply.id)


class _BeforeStatus(Exception):
    """The stream failed before its status went out."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class _Sender:
    """The ``send`` of a streamed response, with a timer: the status is held until the
    first chunk (``started``: it went out) or ``interval`` seconds, and a ``: keep-alive``
    comment goes out whenever nothing did for ``interval`` seconds. A timer, not a task: a
    stream that is never silent that long costs one timer handle."""

    def __init__(self, send: Send, interval: float, completion: AsyncCompletion, started: bool) -> None:
        self._send = send
        self.interval = interval
        self.completion = completion
        self.loop = asyncio.get_running_loop()
        self.lock = asyncio.Lock()  # a comment never interleaves with a message
        self.last = self.loop.time()
        self.started = started  # the status is (or is decided to be) on its way
        self.held: Any = None  # the status message, while held
        self.sending = False  # a message is being sent
        self.open = True
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = self.loop.call_later(interval, self._due)

    async def send(self, message: Any) -> None:
        if message["type"] == "http.response.start" and not self.started:
            self.held = message  # until the first chunk, or the interval
            return
        task = self.task
        if task is not None and not task.done():  # a comment is on its way: take turns
            async with self.lock:
                await self._deliver(message)
        else:  # the timer starts no comment while this runs (``sending``)
            await self._deliver(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.stop()

    async def _deliver(self, message: Any) -> None:
        self.sending = True
        try:
            if self.held is not None:  # the first chunk: the status goes out now, naming the provider
                held, self.held = self.held, None
                self.started = True
                provider = self.completion.provider
                if provider:
                    held["headers"] = [*held["headers"], (b"x-provider-core-provider", provider.encode("latin-1"))]
                await self._send(held)
            await self._send(message)
        finally:
            self.sending = False
            self.last = self.loop.time()

    def _due(self) -> None:
        self.timer = None
        if not self.open:
            return
        wait = self.last + self.interval - self.loop.time()
        if wait <= 0 and not self.sending and (self.task is None or self.task.done()):
            self.started = True  # decided now: an error from here on is an event
            self.task = self.loop.create_task(self._comment())
            wait = self.interval
        self.timer = self.loop.call_later(max(wait, 0.001), self._due)

    async def _comment(self) -> None:
        try:
            async with self.lock:
                if not self.open:
                    return
                self.sending = True
                if self.held is not None:
                    held, self.held = self.held, None
                    await self._send(held)
                await self._send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})
                self.sending = False
                self.last = self.loop.time()
        except Exception:  # the client is gone: the response notices it too
            self.open = False

    def stop(self) -> None:
        self.open = False
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
