"""``provider-core probe [NAME ...]``: send one tiny real request to each provider, in
parallel, and show which answered, how fast, and what they said (see
:mod:`provider_core.probe`; ``--json`` prints :meth:`ProbeResult.to_dict` records)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from ..probe import DEFAULT_PROMPT, DEFAULT_TIMEOUT, probe_providers
from .output import print_json, registry, table


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
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    reg = registry()
    if args.names:
        seen: dict[str, type] = {}
        for name in args.names:
            cls = reg.get(name)  # ProviderNotFound: a one-line usage error (exit 2)
            seen.setdefault(cls.name, cls)
        providers = list(seen.values())
    else:
        providers = reg.providers()
    if not providers:
        sys.stderr.write("error: no providers installed to probe\n")
        return 1
    results = probe_providers(providers, registry=reg, timeout=args.timeout, prompt=args.prompt)
    ok = all(r.ok for r in results)
    if args.json:
        print_json({"ok": ok, "results": [r.to_dict() for r in results]}, out)
    else:
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
        table(rows, ("PROVIDER", "MODEL", "RESULT", "LATENCY", "CIRCUIT", "REPLY / ERROR"), out)
    failed = [r.provider for r in results if not r.ok]
    if failed:
        sys.stderr.write(f"error: {len(failed)} of {len(results)} provider(s) did not answer: {', '.join(failed)}\n")
        return 1
    return 0
