"""``provider-core check [NAME ...] [--json]``: the static provider contract, rule by rule.

Every class an installed plugin *tries* to register is checked, including the classes the
registry refused (those are the ones an author needs to see), against the rules of
:mod:`provider_core.contract` (:mod:`provider_core.checks` does the checking). A plugin that
could not be loaded, or whose hook raised, is a failure too when no NAME is given. NAME
matches provider names, case-insensitively, and also plugin (entry-point) names, which
select every class of that plugin.

Without NAME it also checks the aliases and routing settings (the config file's
``[aliases]`` and ``[routing]``, plugins' aliases): an alias that shadows a model id, a
target naming an unknown provider or a model its provider does not serve, a loop, a bad
setting; each names the file and key. The other aliases keep working.

Exit codes: 0 every rule holds; 1 some rule fails (or a plugin failed to load, or the
config has a problem); 2 a NAME matches nothing (one line on stderr). The JSON document
(``--json``) is::

    {"ok": bool,
     "providers": [{"name", "plugin", "class", "ok",
                    "rules": [{"rule", "summary", "ok", "detail"}]}],
     "plugins": [{"name", "errors"}],          # plugins that failed, only without NAME
     "config": [{"where", "message"}]}         # alias and routing problems, only without NAME

The runtime half of the contract (streaming, errors, closing) needs a server and lives in
the pytest plugin: :class:`provider_core.testing.ProviderContract`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, TextIO

from .output import CLIError, print_json, registry

if TYPE_CHECKING:
    from ..checks import CheckedProvider


def _write_text(checked: list[CheckedProvider], failed: dict[str, list[str]], out: TextIO) -> None:
    width = max((len(r.rule) for cp in checked for r in cp.results), default=0)
    for cp in checked:
        out.write(f"{cp.name}  ({cp.qualname}, plugin {cp.plugin}): {'ok' if cp.ok else 'FAILED'}\n")
        for r in cp.results:
            mark = "pass" if r.ok else "FAIL"
            tail = f"  {r.detail}" if r.detail else ""
            out.write(f"  {mark}  {r.rule.ljust(width)}  {r.summary}{tail}\n")
    for plugin, errors in failed.items():
        for text in errors or ["failed to load"]:
            out.write(f"plugin {plugin}: FAIL  {text}\n")
    bad = [cp for cp in checked if not cp.ok]
    broken = sum(not r.ok for cp in checked for r in cp.results)
    summary = f"{len(checked)} provider(s) checked: {len(checked) - len(bad)} passed, {len(bad)} failed"
    if broken:
        summary += f" ({broken} rule(s) broken)"
    if failed:
        summary += f"; {len(failed)} plugin(s) failed"
    out.write(summary + "\n")


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Run the command; returns the exit code (see the module docstring)."""
    from ..checks import run_checks  # here: every CLI start imports this module

    try:
        checked, failed = run_checks(registry(), list(args.names))
    except LookupError as exc:
        raise CLIError(str(exc)) from None
    problems = registry().config_problems() if not args.names else []
    ok = all(cp.ok for cp in checked) and not failed and not problems
    if args.json:
        data = {
            "ok": ok,
            "providers": [cp.to_dict() for cp in checked],
            "plugins": [{"name": p, "errors": e} for p, e in failed.items()],
            "config": [{"where": where, "message": message} for where, message in problems],
        }
        print_json(data, out)
    elif not checked and not failed and not problems:
        out.write("no providers installed\n")
    else:
        _write_text(checked, failed, out)
        for where, message in problems:
            out.write(f"config: FAIL  {where}: {message}\n")
        if problems:
            out.write(f"{len(problems)} problem(s) in the aliases and routing settings (the others are in use)\n")
    return 0 if ok else 1


def add_parser(subparsers: Any) -> None:
    """Add the ``check`` command to the CLI's subparsers."""
    p = subparsers.add_parser(
        "check",
        help="check installed providers against the static provider contract, rule by rule",
        description="Check every provider class installed plugins register (or only NAME ...) against the "
        "static rules of the provider contract, and (without NAME) the aliases and routing settings of the "
        "config file. Exit 0 when all hold, 1 when a rule fails, a plugin failed to load or the config has a "
        "problem, 2 when a NAME matches nothing. The runtime rules (streaming, errors, closing) "
        "run in the pytest contract suite, provider_core.testing.ProviderContract.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="provider (or plugin) names, case-insensitive")
    p.add_argument("--json", action="store_true", help="print JSON: {ok, providers: [{name, rules}], plugins}")
    p.set_defaults(func=run)
