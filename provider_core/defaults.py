"""The composition root: the process-wide objects, built lazily at their first use, so that
:func:`provider_core.get_registry`, :func:`provider_core.create_completion` and
:func:`provider_core.acreate_completion` work with no set-up.

* :func:`get_registry`: the registry discovering the installed plugins (its router, hook
  calls and built-in circuit breaker come with it); :func:`reset_registry` swaps it (tests).
* :func:`default_pool`: the worker threads of the async API, ``PROVIDER_CORE_AIO_THREADS``
  of them (default :data:`~provider_core.workers.DEFAULT_THREADS`); a child process made by
  ``fork`` gets a fresh one.

Tests and embedders build isolated ones instead: ``Registry(load_entry_points=False)``,
``WorkerPool(n)``, passed as ``registry=`` / ``executor=``. The pooled HTTP session is the
transport's own (:func:`provider_core.transport.get_session`): providers call the transport
directly, below the registry, so it is not handed down from here.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

from .registry import Registry

if TYPE_CHECKING:
    from .workers import WorkerPool

__all__ = ["ENV_THREADS", "default_pool", "get_registry", "reset_registry"]

ENV_THREADS = "PROVIDER_CORE_AIO_THREADS"

_registry: Registry | None = None
_pool: WorkerPool | None = None
_lock = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry, discovering installed plugins at its first query."""
    global _registry
    registry = _registry
    if registry is None:
        with _lock:
            if _registry is None:
                _registry = Registry()
            registry = _registry
    return registry


def reset_registry(registry: Registry | None = None) -> Callable[[], None]:
    """Replace the process-wide registry (``None``: a fresh one at next use); returns an undo."""
    global _registry
    with _lock:
        previous = _registry
        _registry = registry

    def undo() -> None:
        global _registry
        with _lock:
            _registry = previous

    return undo


def _threads_from_env(default: int) -> int:
    raw = os.environ.get(ENV_THREADS, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        warnings.warn(f"{ENV_THREADS}={raw!r} is not a positive whole number; using {default}", stacklevel=3)
        return default
    return value


def default_pool() -> WorkerPool:
    """The process-wide pool of the async API (created on first use)."""
    global _pool
    pool = _pool
    if pool is None:
        from .workers import DEFAULT_THREADS, WorkerPool  # here: only the async API needs threads

        with _lock:
            if _pool is None:
                _pool = WorkerPool(_threads_from_env(DEFAULT_THREADS), name="provider-core-aio")
            pool = _pool
    return pool


def _after_fork() -> None:
    global _pool, _lock
    _pool = None  # its threads do not exist in a forked child
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
