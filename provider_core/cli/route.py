"""``provider-core route MODEL [--stream] [--json]``: the candidates in order, and why others are skipped."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from .output import print_json, registry


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "route", help="show which providers would serve MODEL, in order, and why others are skipped"
    )
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--stream", action="store_true", help="route as for a streamed request")
    p.add_argument("--include-not-working", action="store_true", help="also route to providers marked not working")
    p.add_argument("--json", action="store_true", help="print JSON: {model, stream, candidates, skipped}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    from ..routing import override_hint

    reg = registry().load()
    plan = reg.router.plan(args.model, stream=args.stream, include_not_working=args.include_not_working)
    if args.json:
        print_json(plan.to_dict(reg), out)
    else:
        if plan.candidates:
            out.write(f"{args.model}: {len(plan.candidates)} candidate(s), tried in this order:\n")
            for n, p in enumerate(plan.candidates, 1):
                out.write(f"  {n}. {p.name} (priority {p.priority}, plugin {reg.origin(p)})\n")
        else:
            out.write(f"{args.model}: no candidate\n")
        for a in plan.skipped:
            out.write(f"  skipped {a.provider}: {a.reason}\n")
    if not plan.candidates:
        hint = override_hint(plan)
        sys.stderr.write(f"error: no working provider serves {args.model!r}." + (f" {hint}" if hint else "") + "\n")
        return 1
    return 0
