"""``provider-core route MODEL|ALIAS [--stream] [--json]``: the candidates in the order this
request would try them (with the model each is asked for, and the strategy's figure), the
alias resolution, and why others are skipped."""

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
    p.add_argument(
        "--json", action="store_true", help="print JSON: {model, stream, alias, strategy, candidates, skipped}"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    from ..routing import override_hint

    reg = registry().load()
    plan = reg.router.plan(args.model, stream=args.stream, include_not_working=args.include_not_working)
    explained = reg.router.explain(plan)
    if args.json:
        print_json(explained, out)
    else:
        _write_text(args.model, explained, out)
    if not plan.candidates:
        hint = override_hint(plan)
        sys.stderr.write(f"error: no working provider serves {args.model!r}." + (f" {hint}" if hint else "") + "\n")
        return 1
    return 0


def _write_text(model: str, explained: dict[str, Any], out: TextIO) -> None:
    alias = explained["alias"]
    if alias is not None:
        out.write(f"{model}: alias for {', '.join(alias['targets'])} ({alias['source']})\n")
    candidates = explained["candidates"]
    if candidates:
        strategy = explained["strategy"]
        how = "in this order" + ("" if strategy == "priority" else f" (strategy {strategy})")
        out.write(f"{model}: {len(candidates)} candidate(s), tried {how}:\n")
        for n, c in enumerate(candidates, 1):
            details = [f"asked for {c['model']}"] if c["model"] != model else []
            details += [f"priority {c['priority']}", f"plugin {c['plugin']}"]
            details += [f"{key.replace('_', ' ')} {value}" for key, value in (c.get("score") or {}).items()]
            out.write(f"  {n}. {c['name']} ({', '.join(details)})\n")
    else:
        out.write(f"{model}: no candidate\n")
    for a in explained["skipped"]:
        asked = f" ({a['model']})" if a["model"] != model else ""
        out.write(f"  skipped {a['name']}{asked}: {a['reason']}\n")
