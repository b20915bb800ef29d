"""``provider-core serve``: an OpenAI-compatible HTTP API over the provider registry.

Needs the optional web stack (``pip install 'provider-core[server]'``: Starlette and
uvicorn). Importing this package imports neither; :func:`create_app` does, on first use.

Modules, one idea each: :mod:`.config` (settings from the environment), :mod:`.request`
(reading an OpenAI request), :mod:`.sse` (OpenAI response shapes and SSE), :mod:`.errors`
(status codes and the OpenAI error shape), :mod:`.auth` and :mod:`.bodylimit` (ASGI
middlewares), :mod:`.stream` (the SSE response), :mod:`.app` (routes, :func:`create_app`;
replies come from :func:`provider_core.acreate_completion`, sync providers running in the
app's own :class:`~provider_core.workers.WorkerPool` of ``--threads`` threads),
:mod:`.ops` (the operations features, wired in with a few lines: :mod:`.ratelimit` and
:mod:`.ratelimit_redis`, :mod:`.keys`, :mod:`.metrics`, :mod:`.tracing`, :mod:`.ready`,
:mod:`.exchange`, the per-request record they share).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["GatewayConfig", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "GatewayConfig":
        from .config import GatewayConfig

        return GatewayConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:  # pragma: no cover
    from .app import create_app
    from .config import GatewayConfig
