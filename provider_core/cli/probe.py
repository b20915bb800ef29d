"""``provider-core probe [NAME ...]``: send one tiny real request to each working provider
(or to each one named, working or not), in parallel, and show which answered, how fast, and
what they said (see :mod:`provider_core.probe`; ``--json`` prints
:meth:`ProbeResult.to_dict` records)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from .output import CLIError, print_json, registry, seconds_option, table


def add_parser(subparsers: Any) -> None:
    """Add the ``probe`` command to the CLI's subparsers."""
    p = subparsers.add_parser(
        "probe",
        help="send a tiny real request to each working provider (or those named) and show who answers",
        description="Send one short prompt to each provider working now (or to each one named, "
        "case-insensitively, working or not), in parallel, and print latency, ok/error and the start of "
        "the reply. The outcomes feed the circuit breaker. Exit code 0 only when every probed "
        "provider answered.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="providers to probe (default: every working one)")
    p.add_argument("--timeout", type=seconds_option, metavar="S", help="seconds per provider (default 15)")
    p.add_argument("--prompt", help="the prompt sent (default 'Reply with one word: OK')")
    p.add_argument("--json", action="store_true", help="print JSON: {ok, results: [{provider, ok, latency_ms, ...}]}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    from ..probe import DEFAULT_PROMPT, DEFAULT_TIMEOUT, probe_providers  # here: every CLI start imports this module

    reg = registry()
    if args.names:
        seen: dict[str, type] = {}
        for name in args.names:
            cls = reg.get(name)  # ProviderNotFound: a one-line usage error (exit 2)
            seen.setdefault(cls.name, cls)
        providers = list(seen.values())
    else:
        providers = reg.providers(working=True)
    if not providers:
        installed = len(reg.providers())
        why = f"no provider is working now ({installed} installed: name them to probe them anyway)"
        raise CLIError(why if installed else "no providers installed to probe", exit_code=1)
    timeout = DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    prompt = DEFAULT_PROMPT if args.prompt is None else args.prompt
    results = probe_providers(providers, registry=reg, timeout=timeout, prompt=prompt)
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
