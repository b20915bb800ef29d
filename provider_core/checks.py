"""``provider-core check [NAME ...] [--json]``: the static provider contract, rule by rule.

Every class an installed plugin *tries* to register is checked, including the classes the
registry refused (those are the ones an author needs to see), against the rules of
:mod:`provider_core.contract`. A plugin that could not be loaded, or whose hook raised, is a
failure too when no NAME is given. NAME matches provider names, case-insensitively, and
also plugin (entry-point) names, which select every class of that plugin.

Exit codes: 0 every rule holds; 1 some rule fails (or a plugin failed to load); 2 a NAME
matches nothing (one line on stderr). The JSON document (``--json``) is::

    {"ok": bool,
     "providers": [{"name", "plugin", "class", "ok",
                    "rules": [{"rule", "summary", "ok", "detail"}]}],
     "plugins": [{"name", "errors"}]}          # plugins that failed, only without NAME

The runtime half of the contract (streaming, errors, closing) needs a server and lives in
the pytest plugin: :class:`provider_core.testing.ProviderContract`.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = ["CheckedProvider", "add_parser", "cmd_check", "collect", "run_checks"]


@dataclass
class CheckedProvider:
    """One provider class, where it came from, and its rule results."""

    name: str
    plugin: str
    cls: Any
    results: list[Any] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def qualname(self) -> str:
        module = getattr(self.cls, "__module__", None)
        label = getattr(self.cls, "__qualname__", None) or repr(self.cls)
        return f"{module}.{label}" if module else label

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "plugin": self.plugin,
            "class": self.qualname,
            "ok": self.ok,
            "rules": [{"rule": r.rule, "summary": r.summary, "ok": r.ok, "detail": r.detail} for r in self.results],
        }


def _label(cls: Any) -> str:
    name = getattr(cls, "name", None)
    if isinstance(name, str) and name.strip():
        return name
    return getattr(cls, "__qualname__", None) or repr(cls)


def collect(registry: Any) -> tuple[list[tuple[str, Any]], dict[str, list[str]]]:
    """Every ``(plugin, class)`` the loaded plugins pass to ``register``, refused ones too,
    and ``{plugin: [errors]}`` for the plugins that failed.

    The ``register_providers`` hooks are called once more with a collecting ``register``
    (hooks must be free of side effects: the spec forbids I/O there)."""
    from .loader import describe_exception

    registry.load()
    # plugins that could not load or whose hook raised (a refused class is reported as a provider)
    failed = {info.name: list(info.errors) for info in registry.failed_plugins() if info.status == "failed"}
    found: list[tuple[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    for impl in registry.plugin_manager.hook.register_providers.get_hookimpls():
        plugin = impl.plugin_name

        def register(cls: Any, *, _plugin: str = plugin) -> Any:
            if (_plugin, id(cls)) not in seen:
                seen.add((_plugin, id(cls)))
                found.append((_plugin, cls))
            return cls

        try:
            impl.function(**{arg: register for arg in impl.argnames if arg == "register"})
        except Exception as exc:
            text = f"register_providers raised {describe_exception(exc)}"  # as the registry words it
            errors = failed.setdefault(plugin, [])
            if not any(e.startswith("register_providers raised") for e in errors):
                errors.append(text)
    for plugin, cls in registry.iter_providers():  # explicit registrations, if any
        if not any(c is cls for _, c in found):
            found.append((plugin, cls))
    found.sort(key=lambda pc: (_label(pc[1]).lower(), pc[0]))
    return found, failed


def run_checks(registry: Any, names: list[str] | None = None) -> tuple[list[CheckedProvider], dict[str, list[str]]]:
    """Check the providers of ``registry`` (those matching ``names``, or all).

    Raises :class:`LookupError` listing the names that match nothing."""
    from .contract import check_provider

    found, failed = collect(registry)
    if names:
        wanted = {n.lower() for n in names}
        known_names = (
            {_label(c).lower() for _, c in found} | {p.lower() for p, _ in found} | {p.lower() for p in failed}
        )
        unknown = sorted((n for n in names if n.lower() not in known_names), key=str.lower)
        if unknown:
            known = sorted({_label(c) for _, c in found}, key=str.lower)
            text = "no provider named " + ", ".join(repr(n) for n in unknown)
            text += f" (installed: {', '.join(known)})" if known else " (no providers installed)"
            raise LookupError(text)
        found = [(p, c) for p, c in found if _label(c).lower() in wanted or p.lower() in wanted]
        failed = {p: e for p, e in failed.items() if p.lower() in wanted}
    checked = [CheckedProvider(_label(c), p, c, check_provider(c)) for p, c in found]
    return checked, failed


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


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    """Run the command; returns the exit code (see the module docstring)."""
    from .cli import CLIError
    from .registry import get_registry

    try:
        checked, failed = run_checks(get_registry(), list(args.names))
    except LookupError as exc:
        raise CLIError(str(exc)) from None
    ok = all(cp.ok for cp in checked) and not failed
    if args.json:
        data = {
            "ok": ok,
            "providers": [cp.to_dict() for cp in checked],
            "plugins": [{"name": p, "errors": e} for p, e in failed.items()],
        }
        json.dump(data, out, indent=2, ensure_ascii=False)
        out.write("\n")
    elif not checked and not failed:
        out.write("no providers installed\n")
    else:
        _write_text(checked, failed, out)
    return 0 if ok else 1


def add_parser(subparsers: Any) -> None:
    """Add the ``check`` command to the CLI's subparsers."""
    p = subparsers.add_parser(
        "check",
        help="check installed providers against the static provider contract, rule by rule",
        description="Check every provider class installed plugins register (or only NAME ...) against the "
        "static rules of the provider contract. Exit 0 when all hold, 1 when a rule fails or a plugin "
        "failed to load, 2 when a NAME matches nothing. The runtime rules (streaming, errors, closing) "
        "run in the pytest contract suite, provider_core.testing.ProviderContract.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="provider (or plugin) names, case-insensitive")
    p.add_argument("--json", action="store_true", help="print JSON: {ok, providers: [{name, rules}], plugins}")
    p.set_defaults(func=cmd_check)
