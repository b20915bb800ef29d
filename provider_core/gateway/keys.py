"""The gateway's API keys: where they come from, and what each one may do.

Sources (they add up): ``PROVIDER_CORE_API_KEYS`` (comma-separated) and the file named by
``PROVIDER_CORE_API_KEYS_FILE`` / ``serve --api-keys-file``. The file is read by its name:

* ``*.toml``: ``[[keys]]`` tables, each with ``key`` (required), and optionally ``id``
  (the name the key goes by in metrics and logs), ``rpm`` and ``tpm`` (its own requests and
  tokens per minute, overriding ``PROVIDER_CORE_RATE_LIMIT_RPM`` / ``_TPM``; ``0`` means no
  limit). Python 3.10 reads TOML only with ``tomli`` installed.
* ``*.json``: the same entries as a list, or as ``{"keys": [...]}``.
* anything else: one key a line, ``#`` comments (the original format).

A key never appears in a metric label, a log line or an error: it is known by its
:attr:`KeyEntry.id`, the ``id`` given, else ``key-`` and the first 8 hex digits of its
SHA-256 (32 bits of a hash of a secret say nothing useful about it). Every key is put in the
book of :mod:`provider_core.secrets`, so that no text the gateway writes can carry one.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

# hashlib, json and the book of secrets are imported where used: every CLI start imports
# this module (through the serve command's options), and only serve reads keys.

__all__ = ["ALL_CALLERS", "KeyEntry", "KeysError", "key_id", "read_keys_file"]

#: The id under which callers are limited together when the gateway has no keys.
ALL_CALLERS = "all"


class KeysError(ValueError):
    """The keys file cannot be used; the message names the file and the entry."""


def key_id(key: str) -> str:
    """The default id of ``key``: ``key-`` and 8 hex digits of its SHA-256."""
    import hashlib

    return "key-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]


@dataclass(frozen=True)
class KeyEntry:
    """One accepted key: ``id`` (shown in metrics), and its own limits per minute
    (``None``: the gateway-wide setting; ``0``: none)."""

    key: str = field(repr=False)
    id: str
    rpm: int | None = None
    tpm: int | None = None

    @classmethod
    def plain(cls, key: str) -> KeyEntry:
        return cls(key, key_id(key))


def _limit(entry: dict[str, Any], name: str, where: str) -> int | None:
    value = entry.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise KeysError(f"{where}: {name} must be a whole number >= 0 (0: no limit), got {value!r}")
    return value


def _entries(data: Any, path: str) -> tuple[KeyEntry, ...]:
    raw = data.get("keys") if isinstance(data, dict) else data
    if not isinstance(raw, list):
        raise KeysError(f"the API keys file {path!r} must hold a list of keys (TOML: [[keys]] tables)")
    entries = []
    for i, entry in enumerate(raw):
        where = f"{path}: keys[{i}]"
        if not isinstance(entry, dict):
            raise KeysError(f"{where} must be a table / object with a 'key'")
        unknown = sorted(set(entry) - {"key", "id", "rpm", "tpm"})
        if unknown:
            raise KeysError(f"{where}: unknown field(s) {', '.join(unknown)} (known: key, id, rpm, tpm)")
        key = entry.get("key")
        if not isinstance(key, str) or not key.strip() or any(c.isspace() for c in key.strip()):
            raise KeysError(f"{where}: 'key' must be a non-empty string without spaces")
        name = entry.get("id")
        if name is not None and (not isinstance(name, str) or not name.strip() or not name.isprintable()):
            raise KeysError(f"{where}: 'id' must be a non-empty printable string")
        key = key.strip()
        entries.append(
            KeyEntry(
                key, name.strip() if name else key_id(key), _limit(entry, "rpm", where), _limit(entry, "tpm", where)
            )
        )
    return tuple(entries)


def _parse(text: str, path: str) -> tuple[KeyEntry, ...]:
    lower = path.lower()
    if lower.endswith(".json"):
        import json

        try:
            return _entries(json.loads(text), path)
        except json.JSONDecodeError as exc:
            raise KeysError(f"the API keys file {path!r} is not valid JSON: {exc}") from None
    if lower.endswith(".toml"):
        try:
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
        except ImportError:  # pragma: no cover - Python 3.10 without tomli
            raise KeysError(f"reading {path!r} needs tomli on Python 3.10 (pip install tomli), or use JSON") from None
        try:
            return _entries(tomllib.loads(text), path)
        except tomllib.TOMLDecodeError as exc:
            raise KeysError(f"the API keys file {path!r} is not valid TOML: {exc}") from None
    lines = (line.strip() for line in text.splitlines())
    return tuple(KeyEntry.plain(line) for line in lines if line and not line.startswith("#"))


def read_keys_file(path: str) -> tuple[KeyEntry, ...]:
    """The entries of the keys file ``path`` (see the module docstring), remembered as
    secrets. Raises :class:`KeysError` naming the file (never quoting a key)."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise KeysError(f"cannot read the API keys file {path!r}: {exc.strerror or exc}") from None
    entries = _parse(text, path)
    if not entries:
        raise KeysError(f"the API keys file {path!r} holds no key")
    from ..secrets import remember

    remember(*(e.key for e in entries))
    return entries
