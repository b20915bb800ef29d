"""The keys llm would use: its key store (``keys.json`` in its user directory) and the
environment variables its models name, read as llm reads them, held as ``SecretStr``.

llm's order for a model that needs a key (``needs_key``, the key's alias in the store):
a key given for the call (itself, or the alias of a stored key), else the stored key of
that alias, else the model's environment variable (``key_env_var``). A model whose plugin
set its key itself (``key_preset``) or that needs none is always usable.

Every key read here is written in provider-core's book of secrets
(:func:`provider_core.secrets.remember`), so no output of the process shows it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from provider_core.records import Record
from provider_core.secrets import remember

if TYPE_CHECKING:
    from pydantic import SecretStr

    from .index import ModelEntry

__all__ = ["KeyStore", "missing_key_text", "read_key_store"]

KEYS_FILE = "keys.json"


def _secret(value: str) -> SecretStr:
    from pydantic import SecretStr

    remember(value)
    return SecretStr(value)


class KeyStore(Record):
    """llm's stored keys (alias -> key) and the environment to fall back to."""

    _fields = ("stored", "environ", "problem")
    __slots__ = _fields
    _defaults: ClassVar = {"problem": None}
    stored: Mapping[str, SecretStr]
    environ: Mapping[str, str]
    problem: str | None

    def key_for(self, entry: ModelEntry, explicit: Any = None) -> SecretStr | None:
        """The key llm would use for ``entry`` (``explicit``: a key, or a stored key's
        alias, given for one call), or ``None`` when none is found. Not to be called for a
        model that needs no key."""
        from provider_core.secrets import reveal

        given = reveal(explicit)
        if isinstance(given, str) and given:
            return self.stored.get(given) or _secret(given)
        if entry.needs_key and entry.needs_key in self.stored:
            return self.stored[entry.needs_key]
        value = self.environ.get(entry.key_env_var) if entry.key_env_var else None
        return _secret(value) if value else None

    def usable(self, entry: ModelEntry) -> bool:
        """Whether ``entry`` can be called now: it needs no key, or its key is found (and
        remembered as a secret)."""
        return not entry.needs_key_now or self.key_for(entry) is not None


def read_key_store(directory: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> KeyStore:
    """Read ``keys.json`` from llm's user directory ``directory`` (missing: no stored keys;
    unreadable: none either, and ``problem`` says why, without any of its content)."""
    env = os.environ if environ is None else environ
    path = os.path.join(directory, KEYS_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return KeyStore({}, env)
    except OSError as exc:
        return KeyStore({}, env, f"{path}: cannot be read ({exc.strerror or type(exc).__name__})")
    except UnicodeDecodeError:  # a problem of the file like the others, not a failed plugin
        return KeyStore({}, env, f"{path}: not UTF-8 text")
    try:
        data = json.loads(text)
    except ValueError:
        return KeyStore({}, env, f"{path}: not valid JSON")
    if not isinstance(data, dict):
        return KeyStore({}, env, f"{path}: not a JSON object")
    stored = {
        alias: _secret(value)
        for alias, value in data.items()
        if isinstance(alias, str) and isinstance(value, str) and value and not alias.startswith("//")
    }
    return KeyStore(stored, env)


def missing_key_text(entry: ModelEntry) -> str:
    """How to give ``entry`` its key: ``no key for 'openai' (llm keys set openai, or OPENAI_API_KEY)``."""
    how = f"llm keys set {entry.needs_key}"
    if entry.key_env_var:
        how += f", or {entry.key_env_var}"
    return f"no key for {entry.needs_key!r} ({how})"
