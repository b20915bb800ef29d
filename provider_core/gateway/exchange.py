"""One request as the operations features see it: an :class:`Exchange`, and how it is fed.

* :class:`Observe` (ASGI middleware, outermost, only when metrics or tracing are on) opens
  an :class:`Exchange` for each request, makes it the current one (:data:`CURRENT`, a
  context variable), notes the status and, for an error, its OpenAI ``code``, and hands it
  to ``finish`` when the response is over (the last byte of a stream included).
* The chat handler adds what only it knows: the model, the key (rate limits), the time to
  the first chunk, the provider that answered, the usage, an error after the status.
* :data:`OBSERVER`, a ``provider_outcome`` hook implementation the gateway adds to its
  registry, records each attempt (provider, model, error, seconds) in the current exchange.
  The hook runs in a provider thread: :class:`ContextExecutor` runs each of the
  completion's jobs in a copy of the submitting task's context, so the thread sees the
  exchange (and OpenTelemetry's current span).

With metrics, tracing and rate limits off none of this exists: the app adds no middleware,
the hook is not installed, the pool is used as it is.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from ..hookspecs import hookimpl
from .asgi import Receive, Scope, Send

__all__ = ["CURRENT", "OBSERVER", "Attempt", "ContextExecutor", "Exchange", "Observe", "endpoint_label"]

#: The exchange of the request being served (set by :class:`Observe`).
CURRENT: ContextVar[Exchange | None] = ContextVar("provider_core_gateway_exchange", default=None)

#: Paths named as they are in metric labels; any other is ``other`` (a label set stays bounded).
_ENDPOINTS = frozenset({"/healthz", "/readyz", "/metrics", "/v1/models", "/v1/providers", "/v1/chat/completions"})


def endpoint_label(path: str) -> str:
    if path in _ENDPOINTS:
        return path
    if path.startswith("/v1/models/"):
        return "/v1/models/{model}"
    return "other"


class Attempt:
    """One provider called for a request: ``error`` None when its first chunk came
    (``elapsed`` = seconds to it), else what ended it; ``at``: when it was reported
    (``time.time()``); ``span``: its tracing span, when tracing."""

    __slots__ = ("at", "elapsed", "error", "model", "provider", "span")

    def __init__(self, provider: str, model: str, error: BaseException | None, elapsed: float) -> None:
        self.provider = provider
        self.model = model
        self.error = error
        self.elapsed = elapsed
        self.at = time.time()
        self.span: Any = None


class Exchange:
    """What one request did: ``endpoint`` (a bounded label), ``status``, ``error_code``
    (an error answer's, or a stream's error event's), ``model`` (as asked), ``provider``
    (who answered), ``first_token`` (seconds to the first chunk of a stream), ``tokens``
    (input, output), ``attempts``, ``key`` (id and limits, when rate limited),
    ``rate_limited`` (which limit refused it), ``span`` (tracing)."""

    def __init__(self, endpoint: str, on_attempt: Callable[[Exchange, Attempt], None] | None = None) -> None:
        self.endpoint = endpoint
        self.started = time.perf_counter()
        self.start_ns = time.time_ns()
        self.status = 0
        self.error_code: str | None = None
        self.model = ""
        self.provider = ""
        self.first_token: float | None = None
        self.tokens: tuple[int, int] | None = None
        self.finish_reason: str | None = None
        self.attempts: list[Attempt] = []
        self.key: Any = None
        self.limiter: Any = None
        self.rate_limited: str | None = None
        self.span: Any = None
        self._on_attempt = on_attempt

    def attempt(self, provider: str, model: str, error: BaseException | None, elapsed: float) -> None:
        """An attempt ended or delivered its first chunk (called from a provider thread)."""
        record = Attempt(provider, model, error, elapsed)
        self.attempts.append(record)
        if self._on_attempt is not None:
            self._on_attempt(self, record)

    def first_chunk(self, provider: str | None) -> None:
        """The first text or tool call of a stream is there."""
        self.first_token = time.perf_counter() - self.started
        self.provider = provider or ""

    async def replied(self, provider: str | None, usage: Any, finish_reason: str | None = None) -> None:
        """The reply is over (``usage``: reported or estimated): count its tokens, for the
        metrics and against the key's tokens per minute."""
        self.provider = provider or self.provider
        self.tokens = (usage.prompt_tokens, usage.completion_tokens)
        self.finish_reason = finish_reason
        if self.limiter is not None and self.key is not None:
            await self.limiter.charge(*self.key, usage.prompt_tokens + usage.completion_tokens)

    def failed(self, code: str | None) -> None:
        """A stream failed after its status was sent (its error event's ``code``)."""
        self.error_code = code or "error"


class _Observer:
    """The ``provider_outcome`` hook that feeds the current exchange (none: no effect)."""

    @hookimpl
    def provider_outcome(self, provider: type, model: str, error: BaseException | None, elapsed: float) -> None:
        exchange = CURRENT.get()
        if exchange is not None:
            exchange.attempt(getattr(provider, "name", str(provider)), model, error, elapsed)


#: The one observer plugin (stateless: it reads :data:`CURRENT`), added once per registry.
OBSERVER = _Observer()


class ContextExecutor:
    """An executor running each job in a copy of the context it was submitted from."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def submit(self, fn: Callable[[], Any], /) -> Any:
        return self.pool.submit(_in_context(fn))

    def __getattr__(self, name: str) -> Any:  # statistics(), busy... of the pool
        return getattr(self.pool, name)


def _in_context(fn: Callable[[], Any]) -> Callable[[], Any]:
    context = contextvars.copy_context()
    return lambda: context.run(fn)


def _error_code(body: bytes) -> str | None:
    try:
        error = json.loads(body).get("error")
        code = error.get("code") if isinstance(error, dict) else None
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) and len(code) < 64 and code.isprintable() else None


class Observe:
    """ASGI middleware: an :class:`Exchange` per request, current while it is served,
    passed to ``start(exchange, scope)`` first and to ``finish(exchange)`` at the end."""

    def __init__(
        self,
        app: Any,
        *,
        start: Callable[[Exchange, Scope], None],
        finish: Callable[[Exchange], None],
        on_attempt: Callable[[Exchange, Attempt], None] | None = None,
    ) -> None:
        self.app = app
        self.start = start
        self.finish = finish
        self.on_attempt = on_attempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = Exchange(endpoint_label(scope["path"]), self.on_attempt)

        async def watch(message: Any) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                exchange.status = message["status"]
            elif kind == "http.response.body" and exchange.status >= 400 and exchange.error_code is None:
                exchange.error_code = _error_code(message.get("body", b"")) or f"http_{exchange.status}"
            await send(message)

        token = CURRENT.set(exchange)
        self.start(exchange, scope)
        try:
            await self.app(scope, receive, watch)
        except BaseException:
            if not exchange.status:
                exchange.status = 500
            raise
        finally:
            CURRENT.reset(token)
            self.finish(exchange)
