"""The gateway's Starlette app: an OpenAI-compatible HTTP API over a provider registry.

Endpoints: ``GET /healthz`` and ``GET /readyz`` (always open), ``GET /metrics`` (when
metrics are on), ``GET /v1/models``, ``GET /v1/models/{id}``,
``GET /v1/providers``, ``POST /v1/chat/completions``. Errors use OpenAI's error shape
(:mod:`.errors`). :func:`create_app` is also the factory uvicorn imports for ``--workers``.
Rate limits, metrics, tracing and readiness are :mod:`.ops`, wired in with a few lines.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..aio import AsyncCompletion, acreate_completion
from ..logfilters import install_log_filters
from ..registry import Registry
from ..workers import WorkerPool
from .auth import BearerAuth
from .bodylimit import BodyLimit
from .config import GatewayConfig
from .errors import ApiError, logged_api_error
from .guard import Guard
from .ops import Operations
from .refresh import ModelRefresh, lifespan
from .request import ChatRequest, parse_chat_request, read_json
from .sse import ChatReply, alias_object, json_bytes, model_list, model_object
from .stream import open_stream
from .usage import reported_or_estimated

__all__ = ["create_app"]

log = logging.getLogger("provider_core.gateway")
T = TypeVar("T")


async def run_sync(func: Callable[[], T]) -> T:
    """``func()`` (a listing, loading the registry) in one of anyio's worker threads: never
    in the provider pool, so that listings answer while every provider thread is busy."""
    return await anyio.to_thread.run_sync(func)


def error_response(error: ApiError) -> Response:
    return Response(error.json_bytes(), status_code=error.status, headers=error.headers, media_type="application/json")


def _answer_exception(exc: BaseException) -> Response:
    return error_response(logged_api_error(exc))


class Gateway:
    """The request handlers, bound to one registry and config."""

    def __init__(self, registry: Registry | None, config: GatewayConfig) -> None:
        self._registry = registry
        self._warm = False
        self.config = config
        self._workers: WorkerPool | None = None
        self.model_refresh = ModelRefresh(self)  # live model lists: see .refresh
        self.ops = Operations(config)  # rate limits, metrics, tracing, readiness

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            from ..defaults import get_registry

            self._registry = get_registry()
        return self._registry

    def _warm_up(self) -> None:
        """The one-time costs of the first chat request, paid in a thread rather than on the
        event loop: loading the registry (plugin discovery), building the message validator,
        the health state's first read (which may ask Redis)."""
        from ..messages import validate_messages

        self.registry.providers(working=True)
        validate_messages([{"role": "user", "content": "warm-up"}])
        self.ops.install(self.registry)
        self._warm = True

    @property
    def workers(self) -> WorkerPool:
        """The worker threads (``config.threads`` at most) shared by every provider call of
        this app: the async API runs sync providers in them."""
        if self._workers is None:
            self._workers = WorkerPool(self.config.threads, name="provider-core-gateway")
        return self._workers

    def served_models(self) -> dict[str, list[str]]:
        """Model id -> provider names (routing order), counting providers whose static
        ``working`` flag is set unless the config includes not-working ones. A circuit that
        is open does not remove a model: it is back within its cooldown, and a client that
        saw it vanish would drop it."""
        registry = self.registry
        models = registry.models()
        if not self.config.include_not_working:
            working = {p.name for p in registry.providers() if p.working}
            models = {m: [n for n in names if n in working] for m, names in models.items()}
            models = {m: names for m, names in models.items() if names}
        return models

    def served_aliases(self) -> dict[str, list[str]]:
        """Alias -> its targets (``MODEL[@PROVIDER]``), for the aliases that are no model id."""
        registry = self.registry
        index = registry.model_index()
        return {name: [str(t) for t in a.targets] for name, a in registry.aliases().items() if name not in index}

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        return await self.ops.readyz(None if self._warm else self._warm_up)

    async def models(self, request: Request) -> Response:
        data, aliases = await run_sync(lambda: (self.served_models(), self.served_aliases()))
        return JSONResponse(model_list(data, aliases))

    async def model(self, request: Request) -> Response:
        model_id = request.path_params["model"]
        data, aliases = await run_sync(lambda: (self.served_models(), self.served_aliases()))
        if model_id in data:
            return JSONResponse(model_object(model_id, data[model_id]))
        if model_id in aliases:
            return JSONResponse(alias_object(model_id, aliases[model_id]))
        from ..errors import ModelNotSupported

        return _answer_exception(ModelNotSupported(model_id))

    async def providers(self, request: Request) -> Response:
        def records() -> list[dict[str, Any]]:
            registry = self.registry
            return [registry.describe(p) for p in registry.providers()]

        return JSONResponse({"providers": await run_sync(records)})

    async def chat_completions(self, request: Request) -> Response:
        try:
            chat = parse_chat_request(read_json(await request.body()))
            ticket = await self.ops.admit(request.headers.get("authorization"), chat) if self.ops.active else None
            work = self._stream(chat, ticket) if chat.stream else self._complete(chat, ticket)
            reply = await unless_client_leaves(request.receive, work)
        except Exception as exc:
            return _answer_exception(exc)
        return reply if reply is not None else Response(status_code=499)  # nobody is left to read it

    async def _open(self, chat: ChatRequest, stream: bool) -> AsyncCompletion:
        """Validate and route (raising input and routing errors at once, before any
        request), returning the not yet started completion; ``stream`` is what the
        provider is asked for. This runs on the event loop: it costs microseconds for an
        ordinary request and about a millisecond for a megabyte of messages (as much as
        decoding its JSON), once :meth:`_warm_up` has run."""
        if not self._warm:
            await run_sync(self._warm_up)
        await self.model_refresh.before_route(chat.model, chat.provider)
        return acreate_completion(
            chat.model,
            chat.messages,
            stream,
            chat.provider,
            registry=self.registry,
            include_not_working=self.config.include_not_working,
            executor=self.ops.executor(self.workers),
            **chat.options,
        )

    async def _complete(self, chat: ChatRequest, ticket: Any = None) -> Response:
        # A client that leaves before the reply is complete does not stop a non-streamed
        # call: it ends by itself within the provider's timeouts.
        completion = await self._open(chat, stream=False)
        result = await completion  # the whole reply; closes the completion however it ends
        reply = ChatReply(chat.model, provider=completion.provider)
        chars = len(result) + sum(len(c.name) + len(c.arguments) for c in result.tool_calls)
        usage, estimated = reported_or_estimated(result.usage, chat.messages, chat.options, chars)
        finish = result.finish_reason or ("tool_calls" if result.tool_calls else "stop")
        headers = {"x-provider-core-provider": reply.provider} if reply.provider else {}
        if estimated:
            headers["x-provider-core-usage"] = "estimated"
        if ticket is not None:
            await ticket.replied(completion.provider, usage, finish)
        body = reply.completion(str(result), result.tool_calls, finish, usage)
        return Response(json_bytes(body), headers=headers, media_type="application/json")

    async def _stream(self, chat: ChatRequest, ticket: Any = None) -> Any:
        """The stream's response. It holds its status until the first chunk is there (or
        the keep-alive interval has passed: see :mod:`.stream`), so that a failure before it
        is an HTTP status of its own."""
        completion = await self._open(chat, stream=True)
        return await open_stream(completion, chat, self.config.sse_keepalive, ticket)


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    error = ApiError(
        exc.status_code, f"{request.method} {request.url.path}: {exc.detail}", code=codes.get(exc.status_code)
    )
    return error_response(error)


async def unless_client_leaves(receive: Any, work: Awaitable[T]) -> T | None:
    """``await work``, unless the client disconnects first: then ``work`` is cancelled
    (which closes its completion, cutting the upstream request and freeing its thread, see
    :mod:`provider_core.abort`) and ``None`` is returned. For the time before a reply
    starts: the first chunk of a stream, or the whole of a non-streamed reply."""
    outcome: list[Any] = []
    failure: list[BaseException] = []

    async def run(group: Any) -> None:
        try:
            outcome.append(await work)
        except Exception as exc:
            failure.append(exc)
        group.cancel_scope.cancel()

    async def watch(group: Any) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        group.cancel_scope.cancel()

    async with anyio.create_task_group() as group:
        group.start_soon(run, group)
        group.start_soon(watch, group)
    if failure:
        raise failure[0]
    return outcome[0] if outcome else None


def create_app(registry: Registry | None = None, config: GatewayConfig | None = None) -> Starlette:
    """Build the gateway app over ``registry`` (default: the process-wide one, discovering
    installed plugins) with ``config`` (default: :meth:`GatewayConfig.from_env`)."""
    config = GatewayConfig.from_env() if config is None else config
    install_log_filters()  # the gateway's own records pass the one redaction step
    gateway = Gateway(registry, config)
    routes = [
        Route("/healthz", gateway.healthz, methods=["GET"]),
        Route("/readyz", gateway.readyz, methods=["GET"]),
        *gateway.ops.routes(),
        Route("/v1/models", gateway.models, methods=["GET"]),
        Route("/v1/models/{model:path}", gateway.model, methods=["GET"]),
        Route("/v1/providers", gateway.providers, methods=["GET"]),
        Route("/v1/chat/completions", gateway.chat_completions, methods=["POST"]),
    ]
    middleware = gateway.ops.middleware()  # outermost: it sees every answer
    if config.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(config.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type"],
                max_age=600,
            )
        )
    # outermost first: the Host and content-type checks, then auth, before any body is read
    middleware.append(
        Middleware(
            Guard,
            check_host=not config.auth_enabled,
            allowed_hosts=config.allowed_hosts,
            max_body_bytes=config.max_body_bytes,
            body_timeout=config.body_timeout,
        )
    )
    if config.auth_enabled:
        middleware.append(
            Middleware(
                BearerAuth, keys=config.api_keys, max_body_bytes=config.max_body_bytes, body_timeout=config.body_timeout
            )
        )
    middleware.append(
        Middleware(
            BodyLimit, max_bytes=config.max_body_bytes, drain_bytes=config.drain_bytes, timeout=config.body_timeout
        )
    )
    app = Starlette(
        routes=routes, middleware=middleware, exception_handlers={HTTPException: _http_exception}, lifespan=lifespan
    )
    app.state.gateway = gateway
    return app
