"""``provider-core providers [--working] [--model M] [--json]``: installed providers and their flags."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from .output import print_json, registry, table, yes


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("providers", help="list installed providers and their capability flags")
    p.add_argument("--working", action="store_true", help="only providers working now")
    p.add_argument("--model", "-m", metavar="M", help="only providers that serve model M")
    p.add_argument("--json", action="store_true", help="print JSON: {providers: [{name, working, ...}]}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    reg = registry()
    found = reg.providers(working=True if args.working else None, model=args.model)
    if args.json:
        print_json({"providers": [reg.describe(p) for p in found]}, out)
        return 0
    if not found:
        out.write("no providers" + (" match" if args.working or args.model else " installed") + "\n")
        return 0
    records = [reg.describe(p) for p in found]
    rows = [
        (
            r["name"],
            yes(r["working"]),
            yes(r["supports_stream"]),
            yes(r["supports_gpt_35_turbo"]),
            yes(r["supports_gpt_4"]),
            yes(r["supports_tools"]),
            yes(r["supports_vision"]),
            yes(r["supports_json"]),
            str(len(r["models"])),
            r["plugin"],
        )
        for r in records
    ]
    columns = ("NAME", "WORKING", "STREAM", "GPT-3.5", "GPT-4", "TOOLS", "VISION", "JSON", "MODELS", "PLUGIN")
    table(rows, columns, out)
    for r in records:
        if r["status_reason"]:
            out.write(f"  {r['name']}: not working: {r['status_reason']}\n")
    return 0
