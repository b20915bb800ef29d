"""``provider-core uninstall NAME... [-y] [--json]``: pip-uninstall plugins from the
environment provider-core runs in. NAME is a distribution or a plugin's entry-point name;
provider-core itself (and pip) are refused (see :mod:`provider_core.installer`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from .output import confirm, print_json


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "uninstall",
        help="pip-uninstall plugins from provider-core's own environment",
        description="Remove plugins with pip from the environment provider-core runs in. NAME is a "
        "distribution name (provider-core-openai) or a plugin's name as 'provider-core plugins' lists it "
        "(openai). provider-core itself and pip are never removed. Exit codes: 0 removed, 1 pip failed, "
        "2 a NAME is not installed or protected, or not confirmed.",
    )
    p.add_argument("names", nargs="+", metavar="NAME", help="distribution or plugin names")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--json", action="store_true", help="print JSON: {removed: [{distribution, version, plugins}]}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    from ..installer import environment, plan_uninstall, uninstall  # here: every CLI start imports this module

    plan = plan_uninstall(args.names)
    lines = []
    for dist in plan:
        providers = ", ".join(dist.providers) or "none"
        lines.append(f"{dist.name} {dist.version or ''}".rstrip() + f" (providers: {providers})")
    if not confirm(f"Remove {'; '.join(lines)} from {environment()}?", args.yes):
        sys.stderr.write("nothing removed\n")
        return 2
    removed = set(uninstall(plan, output=sys.stderr))
    gone = [d for d in plan if d.name in removed]
    if args.json:
        print_json({"removed": [d.to_dict() for d in gone]}, out)
    else:
        for dist in gone:
            providers = ", ".join(dist.providers) or "none"
            out.write(f"removed {dist.name} {dist.version or ''}".rstrip() + f" (providers gone: {providers})\n")
    left = [d.name for d in plan if d.name not in removed]
    if left:
        sys.stderr.write(f"error: still installed after pip uninstall: {', '.join(left)}\n")
        return 1
    return 0
