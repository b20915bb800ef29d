"""OpenTelemetry spans for chat requests (extra ``provider-core[tracing]``; opentelemetry is
imported only when ``PROVIDER_CORE_TRACING`` is not ``off``).

Each ``POST /v1/chat/completions`` is a span ``chat {model}`` (kind SERVER; a child of the
caller's trace when it sends a W3C ``traceparent``), with one child span ``chat {model}``
(kind CLIENT) per provider attempt: a failed one ends when it failed, with ``error.type``;
the one that answered spans from its call to the end of the reply. Attributes follow the
OpenTelemetry GenAI semantic conventions:

* ``gen_ai.operation.name`` (``chat``), ``gen_ai.request.model``, ``gen_ai.request.max_tokens``
  / ``temperature`` / ``top_p`` / ``seed`` when given;
* ``gen_ai.provider.name`` and ``gen_ai.system`` (the provider's name in lower case, on the
  attempts and, for the one that answered, on the request), ``gen_ai.response.model`` (the
  model the answering provider was asked for: an alias's target), ``gen_ai.response.finish_reasons``,
  ``gen_ai.usage.input_tokens``, ``gen_ai.usage.output_tokens`` (reported, else estimated);
* ``error.type``: the exception's class on an attempt, the OpenAI error ``code`` on the
  request; ``http.response.status_code`` on the request.

The mode: ``on`` uses the tracer provider the process has (``opentelemetry-instrument``, or
the application's own set-up); ``console`` and ``otlp`` set up the SDK with a batch
exporter to standard output or to OTLP over HTTP (``OTEL_EXPORTER_OTLP_ENDPOINT``...; needs
``opentelemetry-exporter-otlp-proto-http``), unless a provider is already set up.
"""

from __future__ import annotations

import os
from typing import Any

from .exchange import Attempt, Exchange

__all__ = ["Tracing", "TracingUnavailable"]

_REQUEST_OPTIONS = {
    "max_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "seed": "gen_ai.request.seed",
}


class TracingUnavailable(RuntimeError):
    """What tracing needs is not installed; the message says what to install."""


def _sdk(mode: str) -> None:
    """Set up the SDK's tracer provider with a console or OTLP exporter, unless one is set."""
    from opentelemetry import trace

    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        raise TracingUnavailable(
            f"PROVIDER_CORE_TRACING={mode} needs opentelemetry-sdk: pip install 'provider-core[tracing]'"
        ) from None
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    if mode == "console":
        exporter: Any = ConsoleSpanExporter()
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise TracingUnavailable(
                "PROVIDER_CORE_TRACING=otlp needs the OTLP exporter: pip install opentelemetry-exporter-otlp-proto-http"
            ) from None
        exporter = OTLPSpanExporter()
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "provider-core-gateway"}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


class Tracing:
    """Spans for the exchanges of chat requests (see the module docstring)."""

    def __init__(self, mode: str) -> None:
        try:
            from opentelemetry import context, propagate, trace
        except ImportError:
            raise TracingUnavailable("tracing needs opentelemetry: pip install 'provider-core[tracing]'") from None
        if mode in ("console", "otlp"):
            _sdk(mode)
        from ..version import __version__

        self._trace = trace
        self._context = context
        self._propagate = propagate
        self.tracer = trace.get_tracer("provider_core.gateway", __version__)
        self._tokens: dict[int, Any] = {}

    def start(self, exchange: Exchange, scope: Any) -> None:
        """Open the request's span and make it current (chat requests only)."""
        if exchange.endpoint != "/v1/chat/completions":
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}
        parent = self._propagate.extract(carrier) if "traceparent" in carrier else None
        span = self.tracer.start_span(
            "chat",
            context=parent,
            kind=self._trace.SpanKind.SERVER,
            attributes={"gen_ai.operation.name": "chat"},
            start_time=exchange.start_ns,
        )
        exchange.span = span
        self._tokens[id(exchange)] = self._context.attach(self._trace.set_span_in_context(span))

    def requested(self, exchange: Exchange, model: str, options: dict[str, Any]) -> None:
        """The request was read: name the span after its model."""
        span = exchange.span
        if span is None:
            return
        span.update_name(f"chat {model}")
        span.set_attribute("gen_ai.request.model", model)
        for name, attribute in _REQUEST_OPTIONS.items():
            value = options.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                span.set_attribute(attribute, value)

    def attempt(self, exchange: Exchange, attempt: Attempt) -> None:
        """A provider attempt reported (from a provider thread): its span."""
        parent = exchange.span
        if parent is None:
            return
        trace = self._trace
        if attempt.error is not None:  # broke off after its first chunk: end the answering span
            for earlier in exchange.attempts:
                if earlier.span is not None and earlier.provider == attempt.provider and earlier.error is None:
                    _fail(trace, earlier.span, attempt.error)
                    earlier.span.end(end_time=int(attempt.at * 1e9))
                    earlier.span = None
                    return
        system = attempt.provider.lower()
        span = self.tracer.start_span(
            f"chat {attempt.model}",
            context=trace.set_span_in_context(parent),
            kind=trace.SpanKind.CLIENT,
            start_time=int((attempt.at - attempt.elapsed) * 1e9),
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": attempt.model,
                "gen_ai.provider.name": system,
                "gen_ai.system": system,
            },
        )
        if attempt.error is None:
            attempt.span = span  # ends with the reply
            return
        _fail(trace, span, attempt.error)
        span.end(end_time=int(attempt.at * 1e9))

    def finish(self, exchange: Exchange) -> None:
        """Close the request's span (and the answering attempt's) with what happened."""
        span = exchange.span
        if span is None:
            return
        token = self._tokens.pop(id(exchange), None)
        if token is not None:
            self._context.detach(token)
        answered = next((a for a in exchange.attempts if a.error is None), None)
        if answered is not None:
            system = answered.provider.lower()
            span.set_attribute("gen_ai.response.model", answered.model)
            span.set_attribute("gen_ai.provider.name", system)
            span.set_attribute("gen_ai.system", system)
        if exchange.tokens is not None:
            for target in (span, answered.span if answered is not None else None):
                if target is not None:
                    target.set_attribute("gen_ai.usage.input_tokens", exchange.tokens[0])
                    target.set_attribute("gen_ai.usage.output_tokens", exchange.tokens[1])
        if exchange.finish_reason:
            span.set_attribute("gen_ai.response.finish_reasons", [exchange.finish_reason])
        if exchange.status:
            span.set_attribute("http.response.status_code", exchange.status)
        if exchange.error_code:
            span.set_attribute("error.type", exchange.error_code)
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, exchange.error_code))
        for attempt in exchange.attempts:
            if attempt.span is not None:
                if exchange.error_code:
                    attempt.span.set_attribute("error.type", exchange.error_code)
                    attempt.span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))
                attempt.span.end()
                attempt.span = None
        span.end()


def _fail(trace: Any, span: Any, error: BaseException) -> None:
    name = type(error).__name__
    span.set_attribute("error.type", name)
    span.set_status(trace.Status(trace.StatusCode.ERROR, name))
