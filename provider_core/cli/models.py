"""``provider-core models [--json]``: every model id served, with the providers serving it
in routing order, then every alias with its targets (from the registry and the config
file: nothing is sent anywhere)."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from .output import print_json, registry, table


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "models",
        help="list every model id and the providers serving it, in routing order",
        description="List every model id the installed providers serve, each with its providers in routing "
        "order; those not working now are marked; then the aliases (config file, plugins) with their targets. "
        "Live lists come from the model catalog's cache ('provider-core refresh' updates it); nothing is "
        "sent to any provider.",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print JSON: {models: [{id, providers, working}], aliases: [{alias, targets, source}]}",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    reg = registry()
    served = reg.models()
    working = {p.name for p in reg.providers(working=True)}
    aliases = [a for name, a in reg.aliases().items() if name not in served]  # a model id wins over an alias
    if args.json:
        records = [
            {"id": m, "providers": names, "working": [n for n in names if n in working]} for m, names in served.items()
        ]
        print_json({"models": records, "aliases": [a.to_dict() for a in aliases]}, out)
        return 0
    if not served and not aliases:
        out.write("no models: no provider lists one (see 'provider-core providers'; 'provider-core refresh')\n")
        return 0
    rows = [(m, ", ".join(n if n in working else f"{n} (not working)" for n in names)) for m, names in served.items()]
    rows += [(a.name, "alias for " + ", ".join(str(t) for t in a.targets)) for a in aliases]
    table(rows, ("MODEL", "PROVIDERS"), out)
    return 0
