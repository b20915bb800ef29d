"""``provider-core refresh [NAME...] [--timeout S] [--json]``: fetch the live model lists of
the providers named (default: all) into the model catalog's cache (see
:mod:`provider_core.catalog`). A running gateway picks the new lists up within its refresh
interval; every other command reads them at its next start."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from .output import print_json, registry, seconds_option, table

DETAIL = {"static": "its plugin lists fixed models", "unchanged": "", "updated": ""}


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "refresh",
        help="fetch the live model lists of providers (or those named) into the catalog cache",
        description="Ask each provider whose plugin fetches a live model list (an OpenAI-compatible endpoint "
        "without a 'models' list, say) for it now, in parallel, and store it in the model catalog's cache, "
        "which every command reads at start-up without touching the network. A running gateway picks it up "
        "within its refresh interval (60 s by default). Exit code 1 when some list could not be fetched.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="providers to refresh (default: all)")
    p.add_argument(
        "--timeout", type=seconds_option, default=30.0, metavar="S", help="seconds to wait in all (default 30)"
    )
    p.add_argument("--json", action="store_true", help="print JSON: {ok, cache, results: [{provider, status, ...}]}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    catalog = registry().catalog
    results = catalog.refresh(list(args.names), timeout=args.timeout)
    ok = all(r.ok for r in results)
    if args.json:
        print_json({"ok": ok, "cache": catalog.cache.path, "results": [r.to_dict() for r in results]}, out)
        return 0 if ok else 1
    if not results:
        out.write("no providers installed\n")
        return 0
    rows = [(r.provider, r.status, str(r.models), r.error or DETAIL.get(r.status, "")) for r in results]
    table(rows, ("PROVIDER", "RESULT", "MODELS", "DETAIL"), out)
    out.write(f"cache: {catalog.cache.path}\n")
    return 0 if ok else 1
