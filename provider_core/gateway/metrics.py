"""``GET /metrics``: the gateway's Prometheus metrics (extra ``provider-core[metrics]``,
prometheus-client, imported only when ``PROVIDER_CORE_METRICS`` is on).

=============================================  =========  ===================================
metric                                         type       labels
=============================================  =========  ===================================
``provider_core_requests_total``               counter    endpoint, status, provider, model
``provider_core_errors_total``                 counter    kind (the error's OpenAI ``code``)
``provider_core_fallbacks_total``              counter    provider, model (the one that failed)
``provider_core_time_to_first_token_seconds``  histogram  provider, model (streams)
``provider_core_request_duration_seconds``     histogram  endpoint, provider, model
``provider_core_tokens_total``                 counter    provider, model, type (input/output)
``provider_core_rate_limited_total``           counter    key (its id), limit (requests/tokens)
``provider_core_requests_in_flight``           gauge      (none)
``provider_core_circuit_state``                gauge      provider, model (0 closed, 1 half-open, 2 open)
=============================================  =========  ===================================

Labels stay bounded: ``endpoint`` is one of the routes (``other`` for any other path),
``model`` a model or alias the registry knows (``unknown`` otherwise), ``key`` a key's id
(never the key). **One figure per instance** with ``--workers N``: when
``PROMETHEUS_MULTIPROC_DIR`` is set (``serve`` sets a fresh one per instance), every
worker writes its values to files there and whichever worker answers a scrape adds them all
up (prometheus-client's multiprocess mode); the gauge of requests in flight counts live
workers only (a worker that died is dropped at the next scrape). The circuit states are
read at scrape time from the answering worker's breaker: with Redis every worker shares
them; without, they are that worker's view.
"""

from __future__ import annotations

import glob
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from .exchange import Exchange

__all__ = ["CONTENT_TYPE", "Metrics", "fallbacks"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_PHASES = {"closed": 0.0, "half-open": 1.0, "open": 2.0}


def fallbacks(exchange: Exchange) -> list[tuple[str, str]]:
    """The (provider, model) of each failed attempt that handed over to another one."""
    answered = next((i for i, a in enumerate(exchange.attempts) if a.error is None), None)
    failed = exchange.attempts if answered is None else exchange.attempts[:answered]
    if answered is None:
        failed = failed[:-1]  # the last one handed over to no one
    return [(a.provider, a.model) for a in failed if a.error is not None]


class _Circuits:
    """A collector: the circuit of every provider (and of each model with one recorded)."""

    def __init__(self, circuits: Callable[[], dict[str, str]]) -> None:
        self.circuits = circuits

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily(
            "provider_core_circuit_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open",
            labels=["provider", "model"],
        )
        for key, phase in sorted(self.circuits().items()):
            provider, _, model = key.partition("|")
            family.add_metric([provider, model], _PHASES.get(phase, 0.0))
        yield family


class Metrics:
    """The gateway's metrics. ``known(model)`` says whether a model may be a label;
    ``circuits()`` returns ``{key: phase}`` (``provider`` or ``provider|model``)."""

    def __init__(self, known: Callable[[str], bool], circuits: Callable[[], dict[str, str]]) -> None:
        import prometheus_client as pc

        self.known = known
        self.directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        self.registry = pc.CollectorRegistry(auto_describe=False)
        self.circuits = _Circuits(circuits)
        r = self.registry
        self.requests = pc.Counter(
            "provider_core_requests", "Requests answered", ["endpoint", "status", "provider", "model"], registry=r
        )
        self.errors = pc.Counter("provider_core_errors", "Errors answered, by their code", ["kind"], registry=r)
        self.fallbacks = pc.Counter(
            "provider_core_fallbacks",
            "Failed attempts handed over to another provider",
            ["provider", "model"],
            registry=r,
        )
        self.ttft = pc.Histogram(
            "provider_core_time_to_first_token_seconds",
            "Seconds from a streamed request to its first chunk",
            ["provider", "model"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.duration = pc.Histogram(
            "provider_core_request_duration_seconds",
            "Seconds from a request to the end of its response",
            ["endpoint", "provider", "model"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.tokens = pc.Counter(
            "provider_core_tokens",
            "Tokens of replies (reported or estimated)",
            ["provider", "model", "type"],
            registry=r,
        )
        self.limited = pc.Counter(
            "provider_core_rate_limited", "Requests refused by a rate limit", ["key", "limit"], registry=r
        )
        self.in_flight = pc.Gauge(
            "provider_core_requests_in_flight", "Requests being served", registry=r, multiprocess_mode="livesum"
        )
        if self.directory is None:
            r.register(self.circuits)

    def start(self, exchange: Exchange) -> None:
        self.in_flight.inc()

    def record(self, exchange: Exchange) -> None:
        """Count a finished request."""
        self.in_flight.dec()
        provider = exchange.provider
        model = (
            exchange.model if exchange.model and self.known(exchange.model) else ("unknown" if exchange.model else "")
        )
        self.requests.labels(exchange.endpoint, str(exchange.status), provider, model).inc()
        self.duration.labels(exchange.endpoint, provider, model).observe(time.perf_counter() - exchange.started)
        if exchange.first_token is not None:
            self.ttft.labels(provider, model).observe(exchange.first_token)
        if exchange.tokens is not None:
            self.tokens.labels(provider, model, "input").inc(exchange.tokens[0])
            self.tokens.labels(provider, model, "output").inc(exchange.tokens[1])
        if exchange.error_code:
            self.errors.labels(exchange.error_code).inc()
        if exchange.rate_limited and exchange.key is not None:
            self.limited.labels(exchange.key[0], exchange.rate_limited).inc()
        for failed, asked in fallbacks(exchange) if exchange.attempts else ():
            self.fallbacks.labels(failed, asked if self.known(asked) else "unknown").inc()

    def exposition(self) -> bytes:
        """The text format: this process's figures, or every worker's added up."""
        from prometheus_client import CollectorRegistry, generate_latest

        if self.directory is None:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        _forget_dead_workers(self.directory)
        registry = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(registry, path=self.directory)
        registry.register(self.circuits)
        return generate_latest(registry)


def _forget_dead_workers(directory: str) -> None:
    """Drop the live gauges of worker processes that are gone (their in-flight count)."""
    from prometheus_client import multiprocess

    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        found = re.search(r"_(\d+)\.db$", path)
        if found is None:
            continue
        pid = int(found.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, directory)
        except OSError:
            pass  # alive, another user's
