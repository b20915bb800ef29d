"""Which llm plugins this interpreter can see, and the key that says whether the index is
still true, both without importing llm.

An llm plugin is an entry point in the group ``llm`` (``PYTHONPATH`` included: the
interpreter's own view of installed distributions). ``LLM_LOAD_PLUGINS``, when set, limits
them to the distributions it names, as llm does (set but empty: none). llm's built-in
models come from its own module, not from an entry point: :data:`DEFAULT_PLUGIN`.

The index key (:func:`index_key`) is made of the versions of llm and of every llm plugin
(with its entry point), ``LLM_LOAD_PLUGINS``, and the name, modification time and size of
each configuration file in llm's user directory (:func:`provider_llm.paths.config_files`).
The versions come through provider-core's entry-point cache (:mod:`provider_core.epcache`,
keyed by the state of every ``sys.path`` entry, so installing or removing a distribution
invalidates it): a warm start reads one small file and imports no ``importlib.metadata``.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from provider_core import epcache
from provider_core.records import Record

from .paths import ENV_LOAD_PLUGINS, config_files

__all__ = ["DEFAULT_PLUGIN", "INDEX_FORMAT", "LlmPlugin", "index_key", "llm_plugins", "llm_version"]

#: The name the bridge gives llm's built-in plugin (OpenAI models, ``extra-openai-models.yaml``).
DEFAULT_PLUGIN = "default"
#: The module of llm's built-in models.
DEFAULT_MODULE = "llm.default_plugins.openai_models"
#: Bumped when the index file changes shape: an index of another format is rebuilt.
INDEX_FORMAT = 1


class LlmPlugin(Record):
    """One llm plugin: its entry-point ``name`` and ``value`` (the module), the
    distribution and version that ship it, and the entry point itself."""

    _fields = ("name", "value", "distribution", "version", "entry_point")
    __slots__ = _fields
    _defaults: ClassVar = {"entry_point": None}
    name: str
    value: str
    distribution: str | None
    version: str | None
    entry_point: Any

    def load(self) -> Any:
        """Import the plugin's module (or object)."""
        return self.entry_point.load()


def _metadata() -> Any:
    if sys.version_info >= (3, 12):
        import importlib.metadata as metadata
    else:  # the backport: the same de-duplicated view of distributions the core uses
        try:
            import importlib_metadata as metadata
        except ImportError:  # pragma: no cover - declared for < 3.12
            import importlib.metadata as metadata
    return metadata


def _name_version(dist: Any) -> tuple[str | None, str | None]:
    """``Name`` and ``Version`` from the head of a distribution's metadata file (no email
    parser: it would cost every command's start-up a few milliseconds)."""
    if dist is None:
        return None, None
    found: dict[str, str] = {}
    try:
        text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    except Exception:
        text = ""
    for line in text.split("\n"):
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        key = key.lower()
        if sep and key in ("name", "version") and key not in found:
            found[key] = value.strip()
    return found.get("name"), found.get("version")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def llm_version() -> str | None:
    """The installed llm's version, or ``None`` when llm is not installed."""
    metadata = _metadata()
    try:
        dist = metadata.distribution("llm")
    except metadata.PackageNotFoundError:
        return None
    return _name_version(dist)[1]


def _allowed(environ: Mapping[str, str]) -> set[str] | None:
    raw = environ.get(ENV_LOAD_PLUGINS)
    if raw is None:
        return None
    return {_normal(part.strip()) for part in raw.split(",") if part.strip()}


def llm_plugins(environ: Mapping[str, str] | None = None) -> list[LlmPlugin]:
    """The llm plugins to load, sorted by name (then distribution)."""
    env = os.environ if environ is None else environ
    allowed = _allowed(env)
    found = []
    for ep in _metadata().entry_points(group="llm"):
        dist_name, version = _name_version(getattr(ep, "dist", None))
        if allowed is not None and _normal(dist_name or "") not in allowed:
            continue
        found.append(LlmPlugin(ep.name, ep.value, dist_name, version, ep))
    found.sort(key=lambda p: (p.name, p.distribution or "", p.value))
    return found


def _plugin_key(plugins: Iterable[LlmPlugin]) -> list[list[str | None]]:
    return [[p.name, p.value, p.distribution, p.version] for p in plugins]


#: The entry-point cache's group for what the key needs: llm's plugins, and llm itself as
#: the record named ``""`` (no entry point has an empty name).
_CACHE_GROUP = "llm"


def _installed(environ: Mapping[str, str]) -> tuple[str | None, list[list[str | None]]]:
    """llm's version and the key of its plugins, from the entry-point cache when it holds
    (else from the installed metadata, then cached)."""
    use_cache = epcache.enabled()
    records = epcache.load(_CACHE_GROUP) if use_cache else None
    if records is None:
        records = [["", "", "llm", llm_version()]]
        records += [list(item) for item in _plugin_key(llm_plugins({}))]  # every plugin; filtered below
        if use_cache:
            epcache.store(_CACHE_GROUP, records)
    allowed = _allowed(environ)
    version = next((r[3] for r in records if r[0] == ""), None)
    plugins = sorted(
        (r for r in records if r[0] and (allowed is None or _normal(r[2] or "") in allowed)),
        key=lambda r: (r[0], r[2] or "", r[1]),
    )
    return version, plugins


def index_key(directory: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The key the index was built for (JSON-ready): equal keys mean the index still holds."""
    env = os.environ if environ is None else environ
    version, plugins = _installed(env)
    return {
        "format": INDEX_FORMAT,
        "llm": version,
        "plugins": plugins,
        "load_plugins": env.get(ENV_LOAD_PLUGINS),
        "files": [list(item) for item in config_files(directory)],
    }
