"""The streamed chat reply as an ASGI response: SSE events relayed from a Completion.

The response starts only after the first chunk arrived (see :meth:`.app.Gateway._stream`),
so its status is 200 and its events are those described in :mod:`.sse`. A failure
afterwards becomes an error event and the response ends cleanly. When the client
disconnects (or a bounded graceful shutdown ends), Starlette cancels the sending; the
``finally`` here then closes the :class:`~provider_core.aio.AsyncCompletion`, which stops the
upstream request and gives its worker thread back (see :mod:`provider_core.aio`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
from starlette.responses import StreamingResponse

from ..aio import AsyncCompletion
from .asgi import Receive, Scope, Send
from .errors import api_error_from, log_message
from .request import ChatRequest
from .sse import DONE, ChatReply, encode_event
from .usage import reported_or_estimated

__all__ = ["CompletionStream"]

log = logging.getLogger("provider_core.gateway")


class CompletionStream:
    """ASGI app sending one stream as ``text/event-stream``, then closing it. ``first`` are
    the items that arrived up to the reply's first text or tool call; ``items`` the rest
    (``completion.events()``, already begun); ``chat`` the request (what a usage estimate
    counts, and whether usage was asked for)."""

    def __init__(
        self,
        completion: AsyncCompletion,
        first: list[Any],
        items: AsyncIterator[Any],
        reply: ChatReply,
        chat: ChatRequest,
    ) -> None:
        self.completion = completion
        self.first = first
        self.items = items
        self.reply = reply
        self.chat = chat

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
        yield self._with_ready(b"".join(reply.item(c) for c in self.first))
        try:
            async for item in self.items:
                events = self._with_ready(reply.item(item))
                if events:  # a usage or finish reason alone goes out at the end
                    yield events
        except Exception as exc:
            error = api_error_from(exc)
            if error.status >= 500 and error.code == "internal_error":
                log.error("stream %s failed", reply.id, exc_info=exc)
            else:
                log.warning("stream %s failed after the first chunk: %s", reply.id, log_message(exc))
            yield encode_event(error.body())
            return
        completion = self.completion
        yield reply.final_chunk(completion.finish_reason or ("tool_calls" if completion.tool_calls else "stop"))
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
            await response(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await events.aclose()
                await self.items.aclose()  # type: ignore[attr-defined]
                await self.completion.aclose()
