"""Relaying a reply of an llm async model, and driving an async iterator from sync code.

:func:`relay_async` is the async twin of the sync relay in :mod:`provider_llm.runtime`:
the same translation, errors and end of reply (:mod:`provider_llm.calls`), over
``response.astream_events()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

from provider_core.errors import ProviderError
from provider_core.events import Event

from .calls import Prepared, conclude, failure, open_response
from .relay import Relay

__all__ = ["relay_async", "run_sync"]


async def relay_async(prepared: Prepared, stream: bool) -> AsyncIterator[Event]:
    """The items of one reply of the async llm model of ``prepared``."""
    response = open_response(prepared, prepared.registered.async_model, stream)
    relay = Relay()
    events = response.astream_events()
    try:
        try:
            async for event in events:
                for item in relay.feed(event):
                    yield item
            usage = await response.usage()
            tail = conclude(relay, prepared, response.tool_calls_or_raise(), usage, response.response_json)
        except ProviderError:
            raise
        except Exception as exc:
            error, cause = failure(exc, relay, prepared)
            raise error from cause
        for item in tail:
            yield item
    finally:
        await events.aclose()
        await prepared.clients.aclose()


def run_sync(factory: Callable[[], AsyncIterator[Event]]) -> Iterator[Event]:
    """Iterate the async iterator ``factory()`` from sync code, on an event loop of its own
    (for a plugin that registered an async model only)."""
    loop = asyncio.new_event_loop()
    items = factory()
    try:
        while True:
            try:
                item = loop.run_until_complete(items.__anext__())
            except StopAsyncIteration:
                return
            yield item
    finally:
        try:
            loop.run_until_complete(items.aclose())  # type: ignore[attr-defined]
        finally:
            loop.close()
