"""``provider-core plugins [--json]``: every plugin, loaded, failed (with the error) or disabled."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from .output import print_json, registry, table


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("plugins", help="list plugins: loaded, failed (with the error) or disabled")
    p.add_argument("--json", action="store_true", help="print JSON: {plugins: [...], warnings: [...]}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    reg = registry()
    infos = reg.plugins()
    if args.json:
        print_json({"plugins": [i.to_dict() for i in infos], "warnings": reg.warnings()}, out)
        return 0
    if all(i.status == "builtin" for i in infos):  # the core's own (the breaker) are listed, but not installed
        out.write("no plugins installed\n")
    rows = [(i.name, i.distribution or "-", i.version or "-", i.status, ", ".join(i.providers) or "-") for i in infos]
    if rows:
        table(rows, ("PLUGIN", "DISTRIBUTION", "VERSION", "STATUS", "PROVIDERS"), out)
    for info in infos:
        for text in info.errors:
            out.write(f"  {info.name}: error: {text}\n")
        for text in info.warnings:
            out.write(f"  {info.name}: warning: {text}\n")
    return 0
