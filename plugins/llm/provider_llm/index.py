"""The model index: what llm's plugins register, as plain data, kept on disk.

The index is written by the child process that imports llm (:mod:`provider_llm.builder`)
and read by every process that lists providers, routes or checks, which never imports
llm. It holds, for each llm plugin, its distribution, version and why it failed to load
(if it did), and for each model its id, display name, aliases, capabilities and which key
it needs; never a key. The file is JSON; one that cannot be read, or is of another
format, counts as missing.
"""

# No `from __future__ import annotations` here: named tuples evaluate their fields'
# annotations, and a string one (what that import makes of each) is compiled: about
# 0.4 ms of every start for this module's three (bench/RESULTS.md, "CLI cold start").
import json
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["Index", "ModelEntry", "PluginEntry", "read_index", "write_index"]


class ModelEntry(NamedTuple):
    """One model an llm plugin registered (``id`` is llm's model id). Named tuples, not
    dataclasses: every command's start-up reads the index, and making a dataclass costs
    about a millisecond."""

    id: str
    plugin: str
    name: str = ""
    aliases: tuple[str, ...] = ()
    can_stream: bool = False
    tools: bool = False
    schema: bool = False
    attachment_types: tuple[str, ...] = ()
    #: the alias of its key in llm's ``keys.json`` (``None``: no key needed)
    needs_key: str | None = None
    #: the environment variable llm falls back to for that key
    key_env_var: str | None = None
    #: the plugin set the key on the model itself
    key_preset: bool = False
    has_sync: bool = True
    has_async: bool = False
    conversation: bool = True

    @property
    def vision(self) -> bool:
        """Whether it takes images (an ``image/*`` attachment type)."""
        return any(t.startswith("image/") for t in self.attachment_types)

    @property
    def needs_key_now(self) -> bool:
        """Whether a key must be found before it can be called."""
        return bool(self.needs_key) and not self.key_preset

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelEntry":
        values = dict(data)
        for name in ("aliases", "attachment_types"):
            values[name] = tuple(str(v) for v in values.get(name) or ())
        entry = cls(**values)
        if not isinstance(entry.id, str) or not entry.id or not isinstance(entry.plugin, str):
            raise ValueError(f"bad model entry {data!r:.80}")
        return entry


class PluginEntry(NamedTuple):
    """One llm plugin; ``error`` says why it could not be used (``None``: it loaded)."""

    name: str
    distribution: str | None = None
    version: str | None = None
    error: str | None = None

    def warning(self) -> str | None:
        """The warning to show for it, or ``None`` when it loaded."""
        if self.error is None:
            return None
        where = f" ({self.distribution} {self.version})" if self.distribution else ""
        return f"llm plugin {self.name!r}{where} failed to load: {self.error}"


class Index(NamedTuple):
    """What the llm plugins of one interpreter and user directory register.

    ``key`` is the :func:`provider_llm.discovery.index_key` it was built for; ``error``
    says why llm itself could not be used (then there are no models); ``notes`` are other
    problems met while building (a configuration file llm could not read...)."""

    key: Mapping[str, Any]
    plugins: tuple[PluginEntry, ...] = ()
    models: tuple[ModelEntry, ...] = ()
    default_model: str | None = None
    error: str | None = None
    notes: tuple[str, ...] = ()

    def warnings(self) -> list[str]:
        """Every problem to report: llm unusable, each plugin that failed, the notes."""
        found = [f"llm could not be used: {self.error}"] if self.error else []
        found += [text for text in (p.warning() for p in self.plugins) if text]
        return found + list(self.notes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": dict(self.key),
            "plugins": [p._asdict() for p in self.plugins],
            "models": [m._asdict() for m in self.models],
            "default_model": self.default_model,
            "error": self.error,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Index":
        """Raises ``ValueError`` (or ``TypeError`` / ``KeyError``) for a malformed index."""
        key = data["key"]
        if not isinstance(key, Mapping):
            raise ValueError("the index has no key")
        return cls(
            key=dict(key),
            plugins=tuple(PluginEntry(**p) for p in data.get("plugins") or ()),
            models=tuple(ModelEntry.from_dict(m) for m in data.get("models") or ()),
            default_model=data.get("default_model"),
            error=data.get("error"),
            notes=tuple(str(n) for n in data.get("notes") or ()),
        )


def read_index(path: str | os.PathLike[str]) -> Index | None:
    """The index stored at ``path``, or ``None`` when there is none that can be read."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return Index.from_dict(data)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def write_index(path: str | os.PathLike[str], index: Index) -> None:
    """Store ``index`` at ``path``, replacing the file atomically; best effort (a cache
    that cannot be written only costs the next process a rebuild)."""
    import tempfile

    try:
        directory = os.path.dirname(os.fspath(path)) or "."
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".llm-index-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(index.to_dict(), handle)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass
