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
from .asgi import Receive, Scope, Send
from .errors import api_error_from, log_message
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


async def _close(completion: AsyncCompletion, items: Any, pending: Any = None) -> None:
    with anyio.CancelScope(shield=True):
        if pending is not None and not pending.done():
            pending.cancel()
            await asyncio.wait({pending})
        await items.aclose()
        await completion.aclose()


async def open_stream(
    completion: AsyncCompletion, chat: ChatRequest, keepalive: float, ticket: Any = None
) -> CompletionStream:
    """Start reading ``completion``; return its response once the first chunk is there or
    ``keepalive`` seconds have passed (0: once the first chunk is there). Errors before
    then are raised (the caller answers them with their own status)."""
    items = completion.events()
    if not keepalive:
        try:
            first = await _first_items(items, completion, ticket)
        except BaseException:  # its error, or this request cancelled: stop the provider
            await _close(completion, items)
            raise
        return CompletionStream(completion, first, items, ChatReply(chat.model, completion.provider), chat, 0.0, ticket)
    pending = asyncio.ensure_future(_first_items(items, completion, ticket))
    try:
        await asyncio.wait({pending}, timeout=keepalive)
        started: list[Any] | asyncio.Future[list[Any]] = pending.result() if pending.done() else pending
    except BaseException:
        await _close(completion, items, pending)
        raise
    reply = ChatReply(chat.model, completion.provider if pending.done() else None)
    return CompletionStream(completion, started, items, reply, chat, keepalive, ticket)


class CompletionStream:
    """ASGI app sending one stream as ``text/event-stream``, then closing it. ``first``: the
    items that arrived up to the reply's first text or tool call, or the future of them
    when the status goes out first; ``items`` the rest (``completion.events()``, already
    begun); ``chat`` the request (what a usage estimate counts, and whether usage was
    asked for); ``keepalive`` seconds of silence before a comment (0: none); ``ticket`` the
    request's :class:`~.exchange.Exchange` when operations features need one."""

    def __init__(
        self,
        completion: AsyncCompletion,
        first: list[Any] | asyncio.Future[list[Any]],
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
            if not isinstance(first, list):
                first = await first
                reply.provider = self.completion.provider
            yield self._with_ready(b"".join(reply.item(c) for c in first))
            async for item in self.items:
                events = self._with_ready(reply.item(item))
                if events:  # a usage or finish reason alone goes out at the end
                    yield events
        except Exception as exc:
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
            if self.keepalive:
                await _with_keepalive(response, self.keepalive, scope, receive, send)
            else:
                await response(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await events.aclose()
                await _close(self.completion, self.items, self.first if not isinstance(self.first, list) else None)
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


async def _with_keepalive(
    response: StreamingResponse, interval: float, scope: Scope, receive: Receive, send: Send
) -> None:
    """Run ``response``, sending a ``: keep-alive`` comment whenever nothing went out for
    ``interval`` seconds between its first and its last message."""
    loop = asyncio.get_running_loop()
    lock = asyncio.Lock()
    state = {"last": loop.time(), "open": False}

    async def sending(message: Any) -> None:
        async with lock:
            await send(message)
            state["last"] = loop.time()
            state["open"] = message["type"] == "http.response.start" or message.get("more_body", False)

    async def beat() -> None:
        try:
            while True:
                delay = state["last"] + interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                    continue
                async with lock:
                    if state["open"]:
                        await send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})
                    state["last"] = loop.time()
        except Exception:  # the client is gone: the response notices too
            return

    async with anyio.create_task_group() as group:
        group.start_soon(beat)
        try:
            await response(scope, receive, sending)
        finally:
            group.cancel_scope.cancel()
