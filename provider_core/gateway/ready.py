"""``GET /readyz``: whether this gateway process should get traffic.

Ready (200 ``{"status": "ready"}``) when its registry is loaded (plugins discovered, the
message validator built) and, when ``PROVIDER_CORE_REDIS_URL`` is set, Redis answers a
``PING`` within ``PROVIDER_CORE_REDIS_TIMEOUT``. Otherwise 503 ``{"status": "not ready",
"reason": ...}``. The first probe starts loading the registry in a thread and waits for it
at most :data:`LOAD_WAIT` seconds, so a slow plugin discovery answers "loading" rather
than a probe timeout; later probes find it done. ``/healthz`` only says the process is
alive. Both are open without a key and whatever the ``Host``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["LOAD_WAIT", "Readiness"]

#: Seconds a probe waits for the registry to load before answering "loading".
LOAD_WAIT = 5.0


class Readiness:
    """The checks of ``/readyz`` for one app; ``environ`` gives the Redis settings."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.redis_url = environ.get("PROVIDER_CORE_REDIS_URL", "").strip() or None
        try:
            timeout = float(environ.get("PROVIDER_CORE_REDIS_TIMEOUT", "").strip() or 0.5)
        except ValueError:
            timeout = 0.5
        self.timeout = timeout if 0 < timeout < float("inf") else 0.5
        self._loading: asyncio.Future[Any] | None = None
        self._client: Any = None

    async def check(self, load: Callable[[], None] | None) -> tuple[int, dict[str, str]]:
        """``(status, body)``; ``load`` loads the registry (``None``: it is loaded)."""
        if load is not None:
            problem = await self._loaded(load)
            if problem is not None:
                return 503, {"status": "not ready", "reason": problem}
        if self.redis_url is not None:
            problem = await self._ping()
            if problem is not None:
                return 503, {"status": "not ready", "reason": problem}
        return 200, {"status": "ready"}

    async def _loaded(self, load: Callable[[], None]) -> str | None:
        import anyio

        if self._loading is None or (self._loading.done() and self._loading.exception() is not None):
            self._loading = asyncio.ensure_future(anyio.to_thread.run_sync(load))
        done, _ = await asyncio.wait({self._loading}, timeout=LOAD_WAIT)
        if not done:
            return "loading the providers"
        error = self._loading.exception()
        return None if error is None else f"loading the providers failed: {type(error).__name__}"

    async def _ping(self) -> str | None:
        from .ratelimit_redis import safe_url

        where = safe_url(self.redis_url or "")
        try:
            if self._client is None:
                from ..health.redis_backend import url_problem

                problem = url_problem(self.redis_url or "")
                if problem is not None:
                    return f"PROVIDER_CORE_REDIS_URL is not usable: {problem}"
                import redis.asyncio as aioredis
                from redis.asyncio.retry import Retry
                from redis.backoff import NoBackoff

                self._client = aioredis.Redis.from_url(
                    self.redis_url or "",
                    socket_timeout=self.timeout,
                    socket_connect_timeout=self.timeout,
                    retry=Retry(NoBackoff(), 0),
                )
            await asyncio.wait_for(self._client.ping(), self.timeout * 2)
        except ImportError:
            return "PROVIDER_CORE_REDIS_URL is set but redis-py is not installed (provider-core[redis])"
        except Exception as exc:
            client, self._client = self._client, None
            if client is not None:
                try:
                    await client.aclose()
                except Exception:
                    pass
            return f"Redis at {where} did not answer a PING within {self.timeout:g} s ({type(exc).__name__})"
        return None
