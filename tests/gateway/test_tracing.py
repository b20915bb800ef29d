"""OpenTelemetry spans with the SDK's in-memory exporter: ``chat {model}`` for a request
(SERVER) and one per provider attempt (CLIENT, its child), GenAI semantic-convention
attributes, errors on the attempt that failed and on the request, the caller's
``traceparent`` honoured, and no span for the other endpoints."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from support import wait_for

from provider_core.gateway.config import ConfigError, GatewayConfig

pytest.importorskip("opentelemetry.sdk", reason="the tracing extra: pip install 'provider-core[tracing]'")


@pytest.fixture(scope="module")
def exporter() -> Any:
    """The in-memory exporter, on the process's tracer provider (set up once)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    yield memory
    memory.shutdown()


@pytest.fixture(scope="module")
def traced(helpers, exporter):
    config = GatewayConfig(tracing="on")
    with helpers.running(helpers.make_registry(helpers.FailFirst, helpers.Catches), config) as gw:
        yield gw


def finished(exporter: Any, name: str, count: int) -> list[Any]:
    """The spans once the request's span (named ``name``) and ``count`` spans in all ended."""
    assert wait_for(lambda: any(s.name == name and s.kind.name == "SERVER" for s in exporter.get_finished_spans()))
    spans = list(exporter.get_finished_spans())
    assert len(spans) == count, [(s.name, s.kind.name) for s in spans]
    return spans


@pytest.mark.filterwarnings("ignore::provider_core.errors.FallbackWarning")
def test_a_request_and_each_attempt_are_spans_with_genai_attributes(traced, exporter, helpers):
    exporter.clear()
    with helpers.openai_client(traced) as client:
        stream = client.chat.completions.create(
            model="fb-1", messages=[{"role": "user", "content": "trace me"}], stream=True, max_tokens=50
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "caught reply"
    spans = finished(exporter, "chat fb-1", 3)
    request = next(s for s in spans if s.kind.name == "SERVER")
    failed, answered = sorted((s for s in spans if s.kind.name == "CLIENT"), key=lambda s: s.start_time)
    assert request.attributes["gen_ai.operation.name"] == "chat"
    assert request.attributes["gen_ai.request.model"] == "fb-1"
    assert request.attributes["gen_ai.request.max_tokens"] == 50
    assert request.attributes["gen_ai.response.model"] == "fb-1"
    assert request.attributes["gen_ai.provider.name"] == "catches" == request.attributes["gen_ai.system"]
    assert request.attributes["gen_ai.usage.input_tokens"] == 2  # "trace me": an estimate
    assert request.attributes["gen_ai.usage.output_tokens"] == 3  # "caught reply": an estimate
    assert request.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert request.attributes["http.response.status_code"] == 200
    assert request.status.is_ok
    for attempt in (failed, answered):
        assert attempt.name == "chat fb-1"
        assert attempt.parent.span_id == request.context.span_id
        assert attempt.context.trace_id == request.context.trace_id
        assert attempt.attributes["gen_ai.operation.name"] == "chat"
        assert attempt.attributes["gen_ai.request.model"] == "fb-1"
    assert failed.attributes["gen_ai.provider.name"] == "failfirst"
    assert failed.attributes["error.type"] == "ProviderConnectionError" and not failed.status.is_ok
    assert failed.end_time <= answered.start_time
    assert answered.attributes["gen_ai.system"] == "catches" and "error.type" not in answered.attributes
    assert answered.attributes["gen_ai.usage.output_tokens"] == 3
    assert answered.end_time <= request.end_time


def test_an_error_is_on_the_request_span(traced, exporter, helpers):
    exporter.clear()
    with helpers.openai_client(traced) as client, pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="limited-1", messages=[{"role": "user", "content": "x"}])
    spans = finished(exporter, "chat limited-1", 2)
    request = next(s for s in spans if s.kind.name == "SERVER")
    attempt = next(s for s in spans if s.kind.name == "CLIENT")
    assert request.attributes["error.type"] == "rate_limited" and not request.status.is_ok
    assert request.attributes["http.response.status_code"] == 429
    assert attempt.attributes["error.type"] == "ProviderHTTPError"


def test_a_break_after_the_first_chunk_ends_the_answering_attempt_with_its_error(traced, exporter, helpers):
    exporter.clear()
    with helpers.openai_client(traced) as client, pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(
            model="broken-1", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            pass
    spans = finished(exporter, "chat broken-1", 2)
    attempt = next(s for s in spans if s.kind.name == "CLIENT")
    request = next(s for s in spans if s.kind.name == "SERVER")
    assert attempt.attributes["error.type"] == "StreamInterrupted"
    assert request.attributes["error.type"] == "stream_interrupted"


def test_the_callers_trace_is_continued_and_other_endpoints_have_no_span(traced, exporter):
    exporter.clear()
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    body = {"model": "echo-1", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=traced.url, timeout=30) as http:
        assert http.get("/v1/models").status_code == 200
        assert http.get("/healthz").status_code == 200
        headers = {"traceparent": f"00-{trace_id}-{parent_id}-01"}
        assert http.post("/v1/chat/completions", json=body, headers=headers).status_code == 200
    spans = finished(exporter, "chat echo-1", 2)
    request = next(s for s in spans if s.kind.name == "SERVER")
    assert format(request.context.trace_id, "032x") == trace_id
    assert format(request.parent.span_id, "016x") == parent_id


def test_the_tracing_setting():
    assert GatewayConfig.from_env({}).tracing == "off"
    assert GatewayConfig.from_env({"PROVIDER_CORE_TRACING": "1"}).tracing == "on"
    assert GatewayConfig.from_env({"PROVIDER_CORE_TRACING": "OTLP"}).tracing == "otlp"
    with pytest.raises(ConfigError, match="PROVIDER_CORE_TRACING"):
        GatewayConfig.from_env({"PROVIDER_CORE_TRACING": "zipkin"})
