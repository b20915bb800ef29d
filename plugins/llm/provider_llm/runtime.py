"""Answering a request through llm's Python API: the sync path, ``create_completion``.

For a model of an ``llm-*`` provider: prepare the call (key, llm model, translated request:
:mod:`provider_llm.calls`), call ``model.prompt(..., stream=..., key=...)`` and relay what
the response streams (:mod:`provider_llm.relay`). A streamed request asks llm to stream
when the model can (``can_stream``); otherwise the reply arrives whole. A plugin that
registered an async model only is driven on an event loop of the call's own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from provider_core.errors import ProviderError
from provider_core.events import Event

from .arelay import relay_async, run_sync
from .calls import Prepared, conclude, failure, open_response, prepare
from .relay import Relay

__all__ = ["complete"]


def _relay(prepared: Prepared, response: Any) -> Iterator[Event]:
    relay = Relay()
    events = response.stream_events()
    try:
        try:
            for event in events:
                yield from relay.feed(event)
            tail = conclude(relay, prepared, response.tool_calls(), response.usage(), response.json())
        except ProviderError:
            raise
        except Exception as exc:
            error, cause = failure(exc, relay, prepared)
            raise error from cause
        yield from tail
    finally:
        events.close()
        prepared.clients.close()


def complete(cls: Any, model: str, messages: Any, stream: bool, options: Mapping[str, Any]) -> Iterator[Event]:
    """``create_completion`` of the ``llm-*`` providers (see the module documentation)."""
    prepared = prepare(cls, model, messages, options)
    sync_model = prepared.registered.model
    if sync_model is None:  # a plugin that registered an async model only
        yield from run_sync(lambda: relay_async(prepared, stream))
        return
    yield from _relay(prepared, open_response(prepared, sync_model, stream))
