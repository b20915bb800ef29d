"""Probing providers: one tiny real request to each, in parallel, to see which answer, how
fast, and what they say (what ``provider-core probe`` runs, see :mod:`provider_core.cli.probe`).

Each probe calls the provider by name (so routing and a provider's ``working`` flag do
not stop it) through the normal completion path, so its outcome feeds the circuit
breaker like any request. It reads the reply until :data:`REPLY_CHARS` characters or the
end, then closes the request. Exit code 0 only when every probed provider answered.

``--json`` prints::

    {"ok": true,
     "results": [{"provider": "Aivvm", "model": "gpt-3.5-turbo", "ok": true,
                  "latency_ms": 41.2, "reply": "OK", "error": null,
                  "circuit": "closed"}]}

``latency_ms`` is the time to the first chunk (``null`` on failure); ``error`` is
``{"type": ..., "message": ...}``; ``circuit`` is the circuit after the probe (the
provider's when it is not closed, else the probed model's)
(``closed``, ``open``, ``half-open``; ``null`` when no breaker is installed).
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .completion import open_completion
from .errors import ProviderNotWorkingWarning, one_line
from .health.plugin import get_breaker

__all__ = ["DEFAULT_PROMPT", "DEFAULT_TIMEOUT", "ProbeResult", "probe_providers"]

DEFAULT_PROMPT = "Reply with one word: OK"
DEFAULT_TIMEOUT = 15.0
REPLY_CHARS = 60


@dataclass
class ProbeResult:
    """How one provider answered a probe."""

    provider: str
    model: str
    ok: bool
    latency: float | None = None  # seconds to the first chunk
    reply: str = ""
    error_type: str | None = None
    error: str | None = None
    circuit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "ok": self.ok,
            "latency_ms": None if self.latency is None else round(self.latency * 1000, 1),
            "reply": self.reply,
            "error": None if self.error_type is None else {"type": self.error_type, "message": self.error},
            "circuit": self.circuit,
        }


def _worst(provider: Any, model: Any) -> Any:
    """The circuit that matters for the probed model: the provider's unless it is closed."""
    return model if provider.value == "closed" else provider


def _probe_model(provider: type) -> str:
    """The model a probe asks for: the default, else the first listed ("" when it lists none:
    the probe then reports why it cannot ask)."""
    return provider.default_model or next(iter(provider.models), "")


def _run_one(registry: Any, provider: type, prompt: str, timeout: float, result: ProbeResult) -> None:
    messages = [{"role": "user", "content": prompt}]
    started = time.perf_counter()
    try:
        completion = open_completion(
            result.model,
            messages,
            bool(provider.supports_stream),
            provider,
            registry=registry,
            timeout=(timeout, timeout),
        )
        parts: list[str] = []
        size = 0
        with completion:
            for chunk in completion:
                if result.latency is None:
                    result.latency = time.perf_counter() - started
                parts.append(chunk)
                size += len(chunk)
                if size >= REPLY_CHARS:
                    break
        result.reply = " ".join("".join(parts).split())[:REPLY_CHARS]
        result.ok = True
    except Exception as exc:
        result.ok = False
        result.error_type = type(exc).__name__
        result.error = one_line(exc)[:300]


def probe_providers(
    providers: Sequence[type],
    *,
    registry: Any,
    timeout: float = DEFAULT_TIMEOUT,
    prompt: str = DEFAULT_PROMPT,
) -> list[ProbeResult]:
    """Probe ``providers`` in parallel (one daemon thread each) and return their results
    in the same order. ``timeout`` bounds the connect and each read, and the whole probe of
    one provider: one still running after ``timeout`` + 1 s is reported as timed out (and
    counted against its circuit) and left to finish on its own."""
    results = [ProbeResult(p.name, _probe_model(p), ok=False) for p in providers]
    threads = []
    with warnings.catch_warnings():
        # a probe names each provider on purpose: no "not working; calling it" warnings
        warnings.simplefilter("ignore", ProviderNotWorkingWarning)
        for provider, result in zip(providers, results, strict=True):
            thread = threading.Thread(
                target=_run_one,
                args=(registry, provider, prompt, timeout, result),
                name=f"provider-core-probe-{provider.name}",
                daemon=True,
            )
            thread.start()
            threads.append(thread)
        deadline = time.monotonic() + timeout + 1.0
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
    breaker = get_breaker(registry)
    for thread, result in zip(threads, results, strict=True):
        if thread.is_alive():
            result.ok = False
            result.error_type = "ProviderTimeout"
            result.error = f"no answer within {timeout:g}s"
            if breaker is not None:
                breaker.failure(result.provider, f"probe: {result.error}")
        if breaker is not None:
            result.circuit = _worst(breaker.phase(result.provider), breaker.phase(result.provider, result.model)).value
    return results
