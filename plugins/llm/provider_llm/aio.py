"""The async path: ``acreate_completion`` through llm's async models.

A provider class whose models include one with an async version (``register(model,
async_model)``) has a native ``acreate_completion``; provider-core's async API awaits it
on the caller's event loop instead of running the sync path in its worker pool. For such
a model the request goes through the async model (``await``-ed streaming, cancellation at
once); for a model of the same provider without an async version, the sync path's steps
run in the event loop's default executor, one step at a time. Getting the llm model the
first time (importing llm and the plugin) also runs there, never on the loop.

The same key, translation, relay and errors as the sync path (:mod:`provider_llm.runtime`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from provider_core.events import Event

from .arelay import relay_async
from .calls import prepare
from .instances import is_ready
from .runtime import complete

__all__ = ["acomplete"]

_END = object()


def _next(it: Iterator[Event]) -> Any:
    return next(it, _END)


async def _via_threads(it: Iterator[Event]) -> AsyncIterator[Event]:
    """The sync iterator ``it``, each step in the loop's default executor."""
    try:
        while True:
            item = await asyncio.to_thread(_next, it)
            if item is _END:
                return
            yield item
    finally:
        await asyncio.to_thread(getattr(it, "close", lambda: None))


async def _acomplete(
    cls: Any, model: str, messages: Any, stream: bool, options: Mapping[str, Any]
) -> AsyncIterator[Event]:
    entry = cls.llm_models.get(model)
    if entry is None or not entry.has_async:
        async for item in _via_threads(complete(cls, model, messages, stream, options)):
            yield item
        return
    if is_ready(entry.plugin):
        prepared = prepare(cls, model, messages, options)
    else:
        prepared = await asyncio.to_thread(prepare, cls, model, messages, options)
    async for item in relay_async(prepared, stream):
        yield item


def acomplete(cls: Any, model: str, messages: Any, stream: bool, options: Mapping[str, Any]) -> AsyncIterator[Event]:
    """``acreate_completion`` of the ``llm-*`` providers with async models: an async
    iterator of the same items as ``create_completion``."""
    return _acomplete(cls, model, messages, stream, options)
