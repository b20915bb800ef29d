"""Entry-point discovery: which plugins are installed, which to load, and their records.

Only this module talks to ``importlib.metadata``. It lists the entry points of the group
``provider_core`` in a deterministic order (by entry-point name, then distribution) and
applies ``PROVIDER_CORE_PLUGINS`` (allow-list) and ``PROVIDER_CORE_DISABLE_PLUGINS``
(deny-list), both comma-separated entry-point names, read when a registry loads. A set
but blank ``PROVIDER_CORE_PLUGINS`` is an empty allow-list: no plugin loads.

The scan's result is cached (:mod:`provider_core.epcache`, keyed by the state of every
``sys.path`` entry, so installing or removing a distribution invalidates it): a start-up
that finds the cache valid imports no ``importlib.metadata`` and reads no distribution.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from . import epcache
from .records import Record

ENTRY_POINT_GROUP = "provider_core"
ENV_ENABLE = "PROVIDER_CORE_PLUGINS"
ENV_DISABLE = "PROVIDER_CORE_DISABLE_PLUGINS"

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "PluginSource",
    "canonical_name",
    "discover",
    "installed_distributions",
    "unknown_allowed",
]


class PluginInfo:
    """What the registry knows of one plugin: where it came from, what it registered, what broke.

    ``status`` is ``"loaded"`` (its hooks ran; ``errors`` may still name refused classes,
    ``warnings`` what it reported through ``warn`` and duplicate names), ``"failed"`` (it
    could not be imported or its hook raised), ``"disabled"`` (skipped by the environment;
    ``warnings`` says why) or ``"builtin"`` / ``"explicit"`` for plugins added in-process.

    (A plain class, not a dataclass: building a dataclass costs about a millisecond of
    every command's start-up, see bench/RESULTS.md.)
    """

    __slots__ = ("distribution", "errors", "name", "providers", "status", "value", "version", "warnings")

    def __init__(
        self,
        name: str,
        distribution: str | None = None,
        version: str | None = None,
        value: str | None = None,
        status: str = "loaded",
    ) -> None:
        self.name = name
        self.distribution = distribution
        self.version = version
        self.value = value
        self.status = status
        self.providers: list[str] = []
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def __repr__(self) -> str:
        return f"PluginInfo(name={self.name!r}, distribution={self.distribution!r}, status={self.label!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PluginInfo) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was

    @property
    def failed(self) -> bool:
        return self.status == "failed" or bool(self.errors)

    @property
    def label(self) -> str:
        """The status as ``plugins`` shows it: ``"loaded (2 warnings)"``, ``"loaded (1
        error)"`` (a refused class), ``"failed"``, ``"disabled"``."""
        if self.status in ("failed", "disabled"):
            return self.status
        counts = [(len(self.errors), "error"), (len(self.warnings), "warning")]
        shown = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in counts if n]
        return f"{self.status} ({', '.join(shown)})" if shown else self.status

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "entry_point": self.value,
            "status": self.status,
            "label": self.label,
            "providers": list(self.providers),
            "errors": list(self.errors),
            "warnings": list(self.warnings),
        }


class PluginSource(Record):
    """One entry point to load (or skip): its name, target, distribution and version."""

    _fields = ("name", "value", "distribution", "version", "entry_point", "skip_reason")
    __slots__ = _fields
    _defaults: ClassVar = {"skip_reason": None}
    name: str
    value: str
    distribution: str | None
    version: str | None
    entry_point: Any
    skip_reason: str | None

    def load(self) -> Any:
        return self.entry_point.load()


def _names(raw: str | None) -> set[str] | None:
    """The lower-cased names of a comma-separated list; unset -> ``None``, blank -> empty."""
    if raw is None:
        return None
    return {part.strip().lower() for part in raw.split(",") if part.strip()}


def _metadata() -> Any:
    """``importlib.metadata``; on 3.10/3.11 its backport, which gives them the same
    de-duplicated view of distributions as the 3.12 standard library."""
    if sys.version_info >= (3, 12):
        import importlib.metadata as metadata
    else:
        try:
            import importlib_metadata as metadata
        except ImportError:  # pragma: no cover - the dependency is declared for < 3.12
            import importlib.metadata as metadata
    return metadata


def _entry_points() -> Iterable[Any]:
    return _metadata().entry_points(group=ENTRY_POINT_GROUP)


class _CachedEntryPoint:
    """An entry point known from the cache: ``load()`` imports ``module[:attr.attr]`` as
    :meth:`importlib.metadata.EntryPoint.load` does, without importing that module."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value

    def load(self) -> Any:
        import importlib

        module, _, attrs = self.value.split("[", 1)[0].partition(":")
        found = importlib.import_module(module.strip())
        for attr in filter(None, attrs.strip().split(".")):
            found = getattr(found, attr)
        return found


def _scan() -> list[tuple[str, str, str | None, str | None, Any]]:
    """Every entry point of the group: ``(name, value, distribution, version, entry point)``,
    from the cache when it is valid, else from the installed metadata (then cached)."""
    use_cache = epcache.enabled()
    if use_cache:
        records = epcache.load(ENTRY_POINT_GROUP)
        if records is not None:
            return [(n, v, d, ver, _CachedEntryPoint(n, v)) for n, v, d, ver in records]
    found = []
    for ep in _entry_points():
        dist_name, version = _name_version(getattr(ep, "dist", None))
        found.append((ep.name, ep.value, dist_name, version, ep))
    if use_cache:
        epcache.store(ENTRY_POINT_GROUP, [list(item[:4]) for item in found])
    return found


def canonical_name(name: str) -> str:
    """A distribution name as package installers compare them: lower case, each run of
    ``-``, ``_`` and ``.`` one ``-`` (``Provider_Core`` -> ``provider-core``)."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def installed_distributions() -> dict[str, str]:
    """Every distribution installed now (never cached): canonical name -> version. For the
    installer, which compares the environment before and after pip ran."""
    found: dict[str, str] = {}
    for dist in _metadata().distributions():
        name, version = _name_version(dist)
        if name:
            found.setdefault(canonical_name(name), version or "")
    return found


def _name_version(dist: Any) -> tuple[str | None, str | None]:
    """A distribution's ``Name`` and ``Version``, read from the head of its METADATA file.

    The same values as ``dist.name`` / ``dist.version``, without the email parser that
    importlib.metadata imports to get them (about a sixth of every CLI start); anything
    unexpected falls back to those attributes.
    """
    if dist is None:
        return None, None
    try:
        text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
        found: dict[str, str] = {}
        for line in text.split("\n"):
            if not line.strip():
                break  # the end of the headers
            key, sep, value = line.partition(":")
            key = key.lower()
            if sep and key in ("name", "version") and key not in found:
                found[key] = value.lstrip(" \t").rstrip("\r")
        if len(found) == 2:
            return found["name"], found["version"]
    except Exception:
        pass
    return getattr(dist, "name", None), getattr(dist, "version", None)


def unknown_allowed(sources: Iterable[PluginSource], environ: Mapping[str, str] | None = None) -> str | None:
    """A warning when ``PROVIDER_CORE_PLUGINS`` names entry points that are not installed
    (a typo there silently loads nothing), else ``None``."""
    env = os.environ if environ is None else environ
    installed = sorted({s.name.lower() for s in sources})
    unknown = sorted((_names(env.get(ENV_ENABLE)) or set()) - set(installed))
    if not unknown:
        return None
    text = f"{ENV_ENABLE} names {', '.join(repr(n) for n in unknown)}: no such plugin is installed"
    return text + (f" (installed: {', '.join(installed)})" if installed else "")


def discover(environ: Mapping[str, str] | None = None) -> list[PluginSource]:
    """List the installed plugins in load order, marking the ones the environment skips."""
    env = os.environ if environ is None else environ
    enable = _names(env.get(ENV_ENABLE))
    disable = _names(env.get(ENV_DISABLE)) or set()
    sources = []
    for name, value, dist_name, version, ep in _scan():
        key = name.lower()
        skip = None
        if key in disable:
            skip = f"disabled by {ENV_DISABLE}"
        elif enable is not None and key not in enable:
            skip = f"not listed in {ENV_ENABLE}"
        sources.append(PluginSource(name, value, dist_name, version, ep, skip))
    sources.sort(key=lambda s: (s.name.lower(), s.distribution or "", s.value))
    return sources
