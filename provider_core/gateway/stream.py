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

import anyio
from starlette.responses import StreamingResponse

from ..aio import AsyncCompletion
from .asgi import Receive, Scope, Send
from .errors import api_error_from, log_message
from .sse import DONE, ChatReply, encode_event

__all__ = ["CompletionStream"]

log = logging.getLogger("provider_core.gateway")


class CompletionStream:
    """ASGI app sending one stream as ``text/event-stream``, then closing it."""

    def __init__(self, completion: AsyncCompletion, first: str, reply: ChatReply) -> None:
        self.completion = completion
        self.first = first
        self.reply = reply

    def _with_ready(self, event: bytes) -> bytes:
        """``event`` and one event for each chunk that has already arrived: a burst goes
        out in one write."""
        more = self.completion.ready()
        return b"".join([event, *(self.reply.chunk(c) for c in more)]) if more else event

    async def _events(self) -> AsyncIterator[bytes]:
        yield self._with_ready(self.reply.first_chunk(self.first))
        try:
            async for chunk in self.completion:
                yield self._with_ready(self.reply.chunk(chunk))
        except Exception as exc:
            error = api_error_from(exc)
            if error.status >= 500 and error.code == "internal_error":
                log.error("stream %s failed", self.reply.id, exc_info=exc)
            else:
                log.warning("stream %s failed after the first chunk: %s", self.reply.id, log_message(exc))
            yield encode_event(error.body())
            return
        yield self.reply.final_chunk()
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
                await self.completion.aclose()
