"""The model catalog's cache on disk: the live model list of each provider, as last fetched.

One JSON file, ``models.json`` in the user cache directory
(:func:`provider_core.userdirs.cache_dir`), written by ``provider-core refresh`` and by a
running gateway (:mod:`provider_core.catalog` does the fetching), read when plugins
register their providers. Registration reads it and never touches the network: a plugin
whose providers serve live lists calls :func:`cached_models` in its
``register_providers`` hook and registers what it finds, and :func:`list_problem` words
what is missing the way every plugin should. A provider that ships a model list of its own
and also serves its service's live one (a vendor's API) registers
:func:`with_cached_models` of its class.

An entry is keyed by the provider's name (lower-cased) and its ``url``, so an endpoint
moved to another address starts afresh. It holds model ids, when they were fetched, and
the error of the last attempt if it failed (redacted, one line); never a key. A file that
cannot be read is an empty cache; one that cannot be written loses the update, nothing
else. Two processes writing at once each re-read the file just before replacing it
atomically, so at worst one entry of the two is lost until the next refresh.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from .records import Record
from .secrets import safe_url
from .userdirs import cache_dir

__all__ = [
    "FILE_NAME",
    "ModelCache",
    "ModelEntry",
    "age_text",
    "cached_models",
    "default_cache",
    "entry_key",
    "list_problem",
    "Recording",
    "with_cached_models",
]

FILE_NAME = "models.json"
FORMAT = 1


class ModelEntry(Record):
    """What the cache knows of one provider's live model list; immutable."""

    _fields = ("models", "fetched_at", "error", "checked_at")
    __slots__ = _fields
    #: the model ids of the last list fetched successfully (empty: none so far)
    models: tuple[str, ...]
    #: when that list was fetched (``time.time()``), ``None`` if never
    fetched_at: float | None
    #: why the last attempt failed, ``None`` when it succeeded
    error: str | None
    #: when the last attempt was made
    checked_at: float

    def to_json(self) -> dict[str, Any]:
        data = {"models": list(self.models), "fetched_at": self.fetched_at}
        return {**data, "error": self.error, "checked_at": self.checked_at}

    @classmethod
    def from_json(cls, data: Any) -> ModelEntry | None:
        """The entry in ``data``, or ``None`` for anything malformed."""
        if not isinstance(data, dict):
            return None
        models, fetched, error, checked = (data.get(k) for k in ("models", "fetched_at", "error", "checked_at"))
        if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
            return None
        if not (fetched is None or _is_time(fetched)) or not _is_time(checked):
            return None
        if error is not None and not isinstance(error, str):
            return None
        return cls(tuple(models), None if fetched is None else float(fetched), error, float(checked))


def _is_time(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def entry_key(name: str, url: str) -> str:
    """The cache key of a provider: its name, lower-cased, and its ``url`` as
    :func:`~provider_core.secrets.safe_url` shows it (the key is written to disk: a plugin
    that put a password in its ``url`` must not have it stored)."""
    return f"{name.lower()} {safe_url(url)}"


_recorder = threading.local()


class Recording:
    """``with Recording(seen):`` every :meth:`ModelCache.lookup` made in this thread
    meanwhile is noted in ``seen`` (key -> entry handed out). The plugin loader records each
    ``register_providers`` call, so that a registry knows which entries its providers were
    built from (:meth:`provider_core.catalog.ModelCatalog.pick_up`)."""

    def __init__(self, seen: dict[str, ModelEntry | None]) -> None:
        self.seen = seen
        self.previous: dict[str, ModelEntry | None] | None = None

    def __enter__(self) -> dict[str, ModelEntry | None]:
        self.previous = getattr(_recorder, "seen", None)
        _recorder.seen = self.seen
        return self.seen

    def __exit__(self, *exc: object) -> None:
        _recorder.seen = self.previous


class ModelCache:
    """One cache file, read again only when it changed; thread-safe."""

    def __init__(self, path: str, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.RLock()
        self._read: tuple[Any, dict[str, ModelEntry]] = (None, {})

    def signature(self) -> tuple[int, int, int] | None:
        """The file's modification time, size and inode (``None`` when absent): cheap to
        compare, changed by every write."""
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def entries(self) -> dict[str, ModelEntry]:
        """Every valid entry now, by key (the file is parsed again only when it changed)."""
        with self._lock:
            signature = self.signature()
            seen, entries = self._read
            if signature is not None and signature == seen:
                return entries
            entries = self._parse() if signature is not None else {}
            self._read = (signature, entries)
            return entries

    def _parse(self) -> dict[str, ModelEntry]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return {}
        raw = data.get("entries") if isinstance(data, dict) and data.get("format") == FORMAT else None
        if not isinstance(raw, dict):
            return {}
        found = {key: ModelEntry.from_json(value) for key, value in raw.items() if isinstance(key, str)}
        return {key: entry for key, entry in found.items() if entry is not None}

    def lookup(self, name: str, url: str) -> ModelEntry | None:
        """The entry of the provider ``name`` at ``url``, or ``None`` (noted by an active
        :class:`Recording`)."""
        key = entry_key(name, url)
        entry = self.entries().get(key)
        seen = getattr(_recorder, "seen", None)
        if seen is not None:
            seen[key] = entry
        return entry

    def update(self, changes: Mapping[str, ModelEntry]) -> bool:
        """Merge ``changes`` into the file (re-read just before, replaced atomically);
        returns whether it was written."""
        with self._lock:
            self._read = (None, {})
            entries = {**self.entries(), **changes}
            data = {"format": FORMAT, "entries": {key: entry.to_json() for key, entry in entries.items()}}
            temporary = f"{self.path}.{os.getpid()}.{threading.get_ident()}.tmp"
            try:
                os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
                with open(temporary, "w", encoding="utf-8") as handle:
                    json.dump(data, handle, indent=1, sort_keys=True)
                os.replace(temporary, self.path)
            except OSError:
                try:
                    os.unlink(temporary)
                except OSError:
                    pass
                return False
            self._read = (None, {})
            return True


_default: ModelCache | None = None
_default_lock = threading.Lock()


def default_cache() -> ModelCache:
    """The process-wide cache, in the user cache directory as the environment says now (a
    changed ``PROVIDER_CORE_CACHE_DIR`` or ``XDG_CACHE_HOME`` gets a fresh one)."""
    global _default
    path = os.path.join(cache_dir(), FILE_NAME)
    cache = _default
    if cache is None or cache.path != path:
        with _default_lock:
            if _default is None or _default.path != path:
                _default = ModelCache(path)
            cache = _default
    return cache


def cached_models(name: str, url: str) -> ModelEntry | None:
    """The cached live list of the provider ``name`` at ``url`` (its class's ``url``), or
    ``None`` when it was never fetched. What a plugin calls in ``register_providers``."""
    return default_cache().lookup(name, url)


def age_text(seconds: float) -> str:
    """``"42s"``, ``"5 min"``, ``"3 h"``, ``"2 days"``."""
    if seconds < 120:
        return f"{max(seconds, 0):.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def list_problem(name: str, entry: ModelEntry | None, now: float | None = None) -> str | None:
    """Why the provider ``name`` has no usable live list, in the words every front end
    shows as its ``status_reason``; ``None`` when the entry is a good list."""
    if entry is None:
        return f"model list not fetched yet ('provider-core refresh {name}' fetches it)"
    if entry.error is None:
        return None
    text = f"model list unavailable: {entry.error}"
    if entry.models and entry.fetched_at is not None:
        now = time.time() if now is None else now
        text += f" (showing the list fetched {age_text(now - entry.fetched_at)} ago)"
    return text


def with_cached_models(provider: type) -> tuple[type, str | None]:
    """For a provider that ships a model list of its own and also serves its service's
    live list (a vendor's API): ``provider`` serving its own models plus the other ids of
    its cached live list (a subclass made here, the ids mapping to themselves; ``provider``
    itself when the cache adds none), and the list's problem (:func:`list_problem`) when its
    last fetch failed. A list never fetched is no problem: the shipped models stand. What a
    plugin calls in ``register_providers``; reads the cache file, never the network."""
    entry = cached_models(provider.name, provider.url)
    if entry is None:
        return provider, None
    extra = {model: model for model in entry.models if model not in provider.models}
    if extra:
        from types import MappingProxyType

        models = MappingProxyType({**provider.models, **extra})
        attrs = {"__module__": provider.__module__, "__doc__": provider.__doc__, "models": models}
        provider = type(provider.__name__, (provider,), attrs)
    return provider, list_problem(provider.name, entry)
