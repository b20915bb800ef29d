"""The static provider contract over everything installed plugins register, rule by rule
(what ``provider-core check`` prints, see :mod:`provider_core.cli.check`).

Every class an installed plugin *tries* to register is checked, including the classes the
registry refused (those are the ones an author needs to see), against the rules of
:mod:`provider_core.contract`. A plugin that could not be loaded, or whose hook raised, is
reported as failed when no name is asked for. Names match provider names,
case-insensitively, and also plugin (entry-point) names, which select every class of that
plugin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .registry import Registry

__all__ = ["CheckedProvider", "collect", "config_problems", "run_checks"]


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


def _dropped(text: object) -> None:
    """The ``warn`` of :func:`collect`'s second run of the hooks."""


def collect(registry: Any) -> tuple[list[tuple[str, Any]], dict[str, list[str]]]:
    """Every ``(plugin, class)`` the loaded plugins pass to ``register``, refused ones too,
    and ``{plugin: [errors]}`` for the plugins that failed.

    The ``register_providers`` hooks are called once more with a collecting ``register``
    and a ``warn`` that drops the text, which the plugin's record already holds (hooks must
    be free of side effects: the spec forbids I/O there)."""
    from .errors import summary

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

        given = {"register": register, "warn": _dropped}
        try:
            impl.function(**{arg: given[arg] for arg in impl.argnames if arg in given})
        except Exception as exc:
            text = f"register_providers raised {summary(exc)}"  # as the registry words it
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


def config_problems(registry: Registry) -> list[tuple[str, str]]:
    """``(where, message)`` for each problem of ``registry``'s aliases and routing settings:
    the config file and its tables, and each alias's targets against what is installed
    (``provider-core check`` reports them)."""
    registry.load()
    return registry.settings.problems(registry.models(), [p.name for p in registry.providers()])
