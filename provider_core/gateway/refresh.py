"""The gateway's live model lists: refreshed in the background, and for a request naming a
model no provider lists (see :mod:`provider_core.catalog` for what is refreshed, and when).

* **In the background**: once at start-up, then every refresh interval
  (``PROVIDER_CORE_REFRESH_INTERVAL``, 60 s by default), :meth:`ModelCatalog.tick
  <provider_core.catalog.ModelCatalog.tick>` runs in a worker thread: it picks up a cache
  that ``provider-core refresh`` (or another worker) wrote, then refreshes every list that
  is stale, failed or never fetched. A gateway started before its upstream thus serves it
  within one interval of its coming up, without a restart. The task lives in the app's
  lifespan (:func:`lifespan`); each ``--workers`` process runs its own.
* **On demand**: before routing a chat request whose model no provider lists (or the
  provider it names does not), :meth:`ModelRefresh.before_route` refreshes the lists that
  are due, at most once per interval, in a worker thread; requests arriving meanwhile wait
  for that same refresh on the event loop, holding no thread. Then routing runs as usual
  (a 404 if the model is still unknown).

A refresh that fails is logged (``provider_core.gateway``) and changes nothing else.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from ..registry import Registry

__all__ = ["ModelRefresh", "lifespan"]

log = logging.getLogger("provider_core.gateway")
#: anyio < 4.1 names the option ``cancellable``
_ABANDON = (
    "abandon_on_cancel"
    if "abandon_on_cancel" in inspect.signature(anyio.to_thread.run_sync).parameters
    else "cancellable"
)


async def _in_thread(func: Any, *args: Any) -> Any:
    """``func(*args)`` in anyio's worker threads; a cancelled caller does not wait for it."""
    return await anyio.to_thread.run_sync(func, *args, **{_ABANDON: True})


class ModelRefresh:
    """The refreshes of one gateway (``registry`` is read through ``owner.registry``, the
    gateway's, made at its first use)."""

    def __init__(self, owner: Any) -> None:
        self._owner = owner
        self._running: anyio.Event | None = None

    @property
    def registry(self) -> Registry:
        return self._owner.registry  # type: ignore[no-any-return]

    async def before_route(self, model: Any, provider: Any = None) -> None:
        """Refresh the lists that are due when ``model`` is unknown (to every provider, or to
        the one named), at most once per interval; a no-op costing a lookup otherwise."""
        if not isinstance(model, str) or not model:
            return
        registry = self.registry
        named = None
        if provider is None:
            if registry.candidates(model):
                return
        elif isinstance(provider, str) and provider in registry:
            named = registry.get(provider)
            if not named.models or model in named.models:
                return
        else:
            return  # an unknown provider: routing says so
        if self._running is not None:  # one refresh at a time: wait for it
            await self._running.wait()
            return
        catalog = registry.catalog
        if not catalog.may_refresh_now():
            return
        self._running = done = anyio.Event()
        try:
            await _in_thread(catalog.refresh_for_model, model, named)
        except Exception:
            log.warning("refreshing the model lists for %r failed", model, exc_info=True)
        finally:
            self._running = None
            done.set()

    async def run(self) -> None:
        """Refresh in the background: now, then every interval, until cancelled."""
        while True:
            catalog = self.registry.catalog
            try:
                results = await _in_thread(catalog.tick)
            except Exception:
                log.warning("the background refresh of the model lists failed", exc_info=True)
            else:
                for result in results:
                    if result.status == "failed":
                        log.info("model list of %s: %s", result.provider, result.error)
            await anyio.sleep(catalog.interval)


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """The app's lifespan: the background refresh of ``app.state.gateway.model_refresh``
    runs while the app serves."""
    refresh: ModelRefresh = app.state.gateway.model_refresh
    async with anyio.create_task_group() as group:
        group.start_soon(refresh.run)
        yield
        group.cancel_scope.cancel()
