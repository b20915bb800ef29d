"""``provider-core probe [NAME ...]``: send one tiny real request to each provider, in
parallel, and show which answered, how fast, and what they said.

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
``{"type": ..., "message": ...}``; ``circuit`` is the provider's circuit after the probe
(``closed``, ``open``, ``half-open``; ``null`` when no breaker is installed).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

__all__ = ["ProbeResult", "add_parser", "probe_providers"]

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


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _probe_model(provider: type) -> str:
    return provider.default_model or next(iter(provider.models))


def _run_one(registry: Any, provider: type, prompt: str, timeout: float, result: ProbeResult) -> None:
    from ..routing import open_completion

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
        result.reply = _one_line("".join(parts))[:REPLY_CHARS]
        result.ok = True
    except Exception as exc:
        result.ok = False
        result.error_type = type(exc).__name__
        result.error = _one_line(str(exc))[:300]


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
    from .plugin import get_breaker

    results = [ProbeResult(p.name, _probe_model(p), ok=False) for p in providers]
    threads = []
    from ..errors import ProviderNotWorkingWarning

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
            result.circuit = breaker.phase(result.provider).value
    return results


# -- the command -------------------------------------------------------------------------


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be in (0, 3600] seconds, got {text}")
    return value


def add_parser(subparsers: Any) -> None:
    """Add the ``probe`` command to the CLI's subparsers."""
    p = subparsers.add_parser(
        "probe",
        help="send a tiny real request to each provider (or those named) and show who answers",
        description="Send one short prompt to each installed provider (or only those named, "
        "case-insensitively), in parallel, and print latency, ok/error and the start of the "
        "reply. The outcomes feed the circuit breaker. Exit code 0 only when every probed "
        "provider answered.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="providers to probe (default: every installed one)")
    p.add_argument(
        "--timeout", type=_positive, default=DEFAULT_TIMEOUT, metavar="S", help="seconds per provider (default 15)"
    )
    p.add_argument("--prompt", default=DEFAULT_PROMPT, help=f"the prompt sent (default {DEFAULT_PROMPT!r})")
    p.add_argument("--json", action="store_true", help="print JSON: {ok, results: [{provider, ok, latency_ms, ...}]}")
    p.set_defaults(func=cmd_probe)


def cmd_probe(args: argparse.Namespace, out: TextIO) -> int:
    import sys

    from ..registry import get_registry

    registry = get_registry()
    if args.names:
        seen: dict[str, type] = {}
        for name in args.names:
            cls = registry.get(name)  # ProviderNotFound: a one-line usage error (exit 2)
            seen.setdefault(cls.name, cls)
        providers = list(seen.values())
    else:
        providers = registry.providers()
    if not providers:
        sys.stderr.write("error: no providers installed to probe\n")
        return 1
    results = probe_providers(providers, registry=registry, timeout=args.timeout, prompt=args.prompt)
    ok = all(r.ok for r in results)
    if args.json:
        json.dump({"ok": ok, "results": [r.to_dict() for r in results]}, out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        from ..cli import _table

        rows = [
            (
                r.provider,
                r.model,
                "ok" if r.ok else "error",
                "-" if r.latency is None else f"{r.latency * 1000:.0f} ms",
                r.circuit or "-",
                r.reply if r.ok else f"{r.error_type}: {r.error}",
            )
            for r in results
        ]
        _table(rows, ("PROVIDER", "MODEL", "RESULT", "LATENCY", "CIRCUIT", "REPLY / ERROR"), out)
    failed = [r.provider for r in results if not r.ok]
    if failed:
        sys.stderr.write(f"error: {len(failed)} of {len(results)} provider(s) did not answer: {', '.join(failed)}\n")
        return 1
    return 0
