"""The gateway's operations features, wired into the app in a few lines: rate limits
(:mod:`.ratelimit`), metrics (:mod:`.metrics`), tracing (:mod:`.tracing`), readiness
(:mod:`.ready`). :class:`Operations` builds what the config turns on and nothing else: with
the defaults (no limits, no metrics, no tracing) a chat request costs one attribute test
more, and no optional dependency is imported.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .config import ConfigError, GatewayConfig
from .errors import RateLimitExceeded
from .exchange import CURRENT, OBSERVER, Attempt, ContextExecutor, Exchange, Observe
from .ready import Readiness
from .request import ChatRequest

__all__ = ["Operations"]


class Operations:
    """What ``config`` turns on, for one app. ``environ`` gives the Redis settings (shared
    with the circuit breaker) and ``PROMETHEUS_MULTIPROC_DIR``."""

    def __init__(self, config: GatewayConfig, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.config = config
        self.limiter: Any = None
        self.metrics: Any = None
        self.tracing: Any = None
        self.readiness = Readiness(environ)
        self._registry: Any = None
        self._lock = threading.Lock()
        if config.rate_limited:
            from .ratelimit import RateLimiter

            self.limiter = RateLimiter(config, environ)
        if config.metrics:
            from .metrics import Metrics

            try:
                self.metrics = Metrics(self._known, self._circuits)
            except ImportError:
                raise ConfigError(
                    "PROVIDER_CORE_METRICS needs prometheus-client: pip install 'provider-core[metrics]'"
                ) from None
        if config.tracing != "off":
            from .tracing import Tracing, TracingUnavailable

            try:
                self.tracing = Tracing(config.tracing)
            except TracingUnavailable as exc:
                raise ConfigError(str(exc)) from None
        self.observing = self.metrics is not None or self.tracing is not None
        self.active = self.observing or self.limiter is not None

    # -- wiring ---------------------------------------------------------------------------

    def middleware(self) -> list[Any]:
        """The ASGI middleware to put outermost (none unless metrics or tracing are on)."""
        if not self.observing:
            return []
        from starlette.middleware import Middleware

        return [Middleware(Observe, start=self._start, finish=self._finish, on_attempt=self._attempt)]

    def routes(self) -> list[Any]:
        """``GET /metrics`` when metrics are on."""
        if self.metrics is None:
            return []
        from starlette.routing import Route

        return [Route("/metrics", self.metrics_endpoint, methods=["GET"])]

    def executor(self, pool: Any) -> Any:
        """Where the completions' jobs run: ``pool``, in the request's context when observing."""
        return ContextExecutor(pool) if self.observing else pool

    def install(self, registry: Any) -> None:
        """Add the attempt observer to ``registry`` (once), when observing."""
        self._registry = registry
        if not self.observing:
            return
        with self._lock:
            if not registry.plugin_manager.is_registered(OBSERVER):
                registry.add_plugin(OBSERVER, "gateway-observer", builtin=True)

    # -- per request -----------------------------------------------------------------------

    async def admit(self, authorization: str | None, chat: ChatRequest) -> Exchange | None:
        """Whether a chat request may pass (raises :class:`RateLimitExceeded`), and its
        :class:`Exchange` for the rest of it (``None`` when nothing needs one)."""
        if not self.active:
            return None
        exchange = CURRENT.get()
        if exchange is None:
            exchange = Exchange("/v1/chat/completions")
        exchange.model = chat.model
        if self.tracing is not None:
            self.tracing.requested(exchange, chat.model, chat.options)
        limiter = self.limiter
        if limiter is not None:
            exchange.key = limiter.identify(authorization)
            exchange.limiter = limiter
            try:
                await limiter.admit(*exchange.key)
            except RateLimitExceeded as exc:
                exchange.rate_limited = exc.kind
                raise
        return exchange

    def _start(self, exchange: Exchange, scope: Any) -> None:
        if self.metrics is not None:
            self.metrics.start(exchange)
        if self.tracing is not None:
            self.tracing.start(exchange, scope)

    def _finish(self, exchange: Exchange) -> None:
        if self.tracing is not None:
            self.tracing.finish(exchange)
        if self.metrics is not None:
            self.metrics.record(exchange)

    def _attempt(self, exchange: Exchange, attempt: Attempt) -> None:
        if self.tracing is not None:
            self.tracing.attempt(exchange, attempt)

    # -- endpoints --------------------------------------------------------------------------

    async def metrics_endpoint(self, request: Any) -> Any:
        import anyio
        from starlette.responses import Response

        from .metrics import CONTENT_TYPE

        body = await anyio.to_thread.run_sync(self.metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE)

    async def readyz(self, load: Callable[[], None] | None) -> Any:
        """The ``/readyz`` answer; ``load`` loads the registry (``None``: done)."""
        from starlette.responses import JSONResponse

        status, body = await self.readiness.check(load)
        return JSONResponse(body, status_code=status)

    # -- what the metrics read ---------------------------------------------------------------

    def _known(self, model: str) -> bool:
        registry = self._registry
        return registry is not None and (model in registry.model_index() or model in registry.aliases())

    def _circuits(self) -> dict[str, str]:
        registry = self._registry
        if registry is None:
            return {}
        from ..health import get_breaker

        circuits = {p.name.lower(): "closed" for p in registry.providers()}
        breaker = get_breaker(registry)
        if breaker is not None:
            circuits.update((key, record["phase"]) for key, record in breaker.snapshot().items())
        return circuits
