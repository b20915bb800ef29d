"""Reading tables of the configuration file, parsed TOML cached as JSON.

Importing :mod:`tomllib` and parsing costs about 4 ms, more than the rest of reading the
configuration together, and every command reads it at start-up (the core its
``[aliases]`` and ``[routing]``, the OpenAI plugin its ``[openai]``). So the tables a reader
asks for (:func:`read_tables`) are kept in ``config-<TABLES>.json`` in the user cache
directory (:func:`provider_core.userdirs.cache_dir`; :func:`cache_name`) with the file's
path, modification time (nanoseconds), size and inode; a start that finds the file
unchanged reads the JSON instead. Any difference parses the file again, and so does a file changed in the last
two seconds (a file system with coarse timestamps could change it again within the same
tick), a table JSON cannot hold, or a cache that cannot be read. What is validated is the
same either way: only the parsing is skipped.

Nothing that may be a secret is copied: a table with ``headers`` or a ``proxy`` anywhere,
or a URL carrying a user name or password (``http://user:pass@host``) or a query string
(``?key=...``), is not cached (it is parsed at every start, as before); API keys are never
in the file at all. The cache file is written readable by its owner only all the same.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from typing import Any

from .userdirs import cache_dir

__all__ = ["cache_name", "read_table", "read_tables"]

FORMAT = 2
SETTLE_NS = 2_000_000_000
#: keys whose values may be secrets (a header's value, a proxy URL's password)
SENSITIVE_KEYS = frozenset({"headers", "proxy"})
#: a str pattern, compiled (and cached by re) at its first use: only a file being cached is scanned
_URL_WITH_SECRETS = r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#]*@|[^#]*\?)"  # a user name or password, or a query


def _sensitive(value: Any) -> bool:
    """Whether ``value`` holds something that may be a secret (see the module docstring)."""
    if isinstance(value, dict):
        return any(k in SENSITIVE_KEYS or _sensitive(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_sensitive(v) for v in value)
    return isinstance(value, str) and re.match(_URL_WITH_SECRETS, value.strip()) is not None


def _parse(path: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def cache_name(sections: tuple[str, ...]) -> str:
    """The cache file's name for the tables ``sections`` (in the user cache directory)."""
    return f"config-{'+'.join(sections)}.json"


def read_tables(path: str, sections: tuple[str, ...]) -> dict[str, Any]:
    """The values of the file's tables ``sections`` (``None`` for one it does not have).
    Raises what reading and parsing raise: ``FileNotFoundError``, ``OSError``,
    ``ValueError`` (TOML syntax, with the line and column)."""
    st = os.stat(path)  # FileNotFoundError / OSError, as open() would
    stamp = [os.path.abspath(path), list(sections), st.st_mtime_ns, st.st_size, st.st_ino]
    cache = os.path.join(cache_dir(), cache_name(sections))
    cached = _cached(cache, stamp)
    if cached is not None:
        return cached
    parsed = _parse(path)
    tables = {section: parsed.get(section) for section in sections}
    if time.time_ns() - st.st_mtime_ns >= SETTLE_NS and not _sensitive(tables):
        _store(cache, stamp, tables)
    return tables


def read_table(path: str, section: str) -> Any:
    """The value of the file's ``[section]`` (``None`` when it has none); see :func:`read_tables`."""
    return read_tables(path, (section,))[section]


def _cached(cache: str, stamp: list[Any]) -> dict[str, Any] | None:
    """The tables cached for ``stamp``, or ``None`` (no cache, another file or version)."""
    try:
        with open(cache, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("stamp") != stamp:
        return None
    tables = data.get("tables")
    return tables if isinstance(tables, dict) else None


def _store(cache: str, stamp: list[Any], tables: dict[str, Any]) -> None:
    temporary = f"{cache}.{os.getpid()}.tmp"
    try:
        text = json.dumps({"format": FORMAT, "stamp": stamp, "tables": tables})
    except (TypeError, ValueError):
        return  # a TOML date or time: JSON cannot hold it, the file is parsed every time
    try:
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, cache)
    except OSError:
        try:
            os.unlink(temporary)
        except OSError:
            pass
