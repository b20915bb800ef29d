"""``provider-core install NAME... [-y] [--upgrade] [--json]``: pip-install plugins into the
environment provider-core runs in, then say which providers arrived (see
:mod:`provider_core.installer`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from .output import confirm, print_json

EPILOG = """\
examples:
  provider-core install ./plugins/openai          a plugin's source directory (a checkout)
  provider-core install provider-core-openai      a published distribution, by name
  provider-core install -y ./dist/my_plugin-1.0-py3-none-any.whl
pip runs as '<this python> -m pip install', so its own settings (pip.conf, PIP_* variables)
apply. Exit codes: 0 installed, 1 pip failed, 2 nothing to install or not confirmed."""


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "install",
        help="pip-install plugins into provider-core's own environment, then list the providers they add",
        description="Install plugins with pip into the environment provider-core runs in (no need to know "
        "which one, or to activate it), then load them in a fresh interpreter and say which providers "
        "each brought. NAME is anything pip accepts: a distribution name, a version spec, a local source "
        "directory, a wheel file.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("names", nargs="+", metavar="NAME", help="what to install, as pip takes it")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("-U", "--upgrade", action="store_true", help="upgrade what is already installed")
    p.add_argument("--json", action="store_true", help="print JSON: {installed: [...], dependencies, warnings}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    from ..installer import environment, install  # here: every CLI start imports this module

    what = ", ".join(args.names)
    if not confirm(f"Install {what} into {environment()}?", args.yes):
        sys.stderr.write("nothing installed\n")
        return 2
    report = install(args.names, upgrade=args.upgrade, output=sys.stderr)
    for text in report.warnings:
        sys.stderr.write(f"warning: {text}\n")
    if args.json:
        print_json(report.to_dict(), out)
        return 0
    if not report.requested:
        out.write("nothing new was installed (already up to date; -U upgrades)\n")
    for dist in report.requested:
        out.write(f"installed {dist.name} {dist.version or ''}".rstrip() + "\n")
        for plugin in dist.plugins:
            providers = ", ".join(plugin.get("providers") or []) or "none"
            out.write(f"  plugin {plugin['name']}: {plugin['status']}, providers: {providers}\n")
            for text in plugin.get("errors") or []:
                out.write(f"    error: {text}\n")
            for text in plugin.get("warnings") or []:
                out.write(f"    warning: {text}\n")
    if report.dependencies:
        names = ", ".join(f"{d.name} {d.version or ''}".rstrip() for d in report.dependencies)
        out.write(f"also installed: {names}\n")
    return 0
