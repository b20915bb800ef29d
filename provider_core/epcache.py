"""A cache of the installed entry points of the group ``provider_core``, so that a start-up
with many plugins installed does not scan every distribution's metadata.

Scanning means importing :mod:`importlib.metadata` (with its backport, about a third of a
bare CLI start) and reading one ``entry_points.txt`` per installed distribution: its cost
grows with everything installed, plugins or not. The cache holds the result of one scan,
``[name, value, distribution, version]`` per entry point, in one small JSON file per
``sys.path`` (``entry-points-XXXXXXXX.json`` in the user cache directory,
:func:`provider_core.userdirs.cache_dir`; at most :data:`MAX_FILES` of them).

**Keyed so that installing or removing a distribution invalidates it.** Beside the
entries, a file stores the fingerprint of every ``sys.path`` entry it was made from: its
modification time (nanoseconds), size and inode. Installing, upgrading or removing a
distribution adds or removes a ``*.dist-info`` directory in one of those directories,
which changes its modification time; any difference, a new or vanished path entry
included, is a miss and the next start scans again. A directory changed in the last
:data:`SETTLE_SECONDS` is not cached at all (a file system with coarse timestamps could
change it again within the same tick). What the fingerprint cannot see: an
``entry_points.txt`` edited by hand in place. Delete the file, or set
``PROVIDER_CORE_ENTRY_POINT_CACHE=0`` to turn the cache off.

Reading or writing the cache never fails a start: any problem is a miss.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from .userdirs import cache_file

__all__ = ["ENV_SWITCH", "MAX_FILES", "SETTLE_SECONDS", "enabled", "load", "store"]

ENV_SWITCH = "PROVIDER_CORE_ENTRY_POINT_CACHE"
FORMAT = 1
MAX_FILES = 32
SETTLE_SECONDS = 2.0
STEM = "entry-points"
PREFIX = STEM + "-"

Record = list[Any]  # [name, value, distribution or None, version or None]


def enabled() -> bool:
    """Whether the cache is used (``PROVIDER_CORE_ENTRY_POINT_CACHE`` is not ``0``/``off``/``false``)."""
    return os.environ.get(ENV_SWITCH, "").strip().lower() not in ("0", "off", "false", "no")


def _fingerprint(paths: Sequence[str]) -> list[list[Any]]:
    found = []
    for entry in paths:
        try:
            st = os.stat(entry or ".")
        except (OSError, ValueError):
            found.append([entry, None])
        else:
            found.append([entry, st.st_mtime_ns, st.st_size, st.st_ino])
    return found


def _file(group: str, paths: Sequence[str]) -> str:
    relative = any(not os.path.isabs(entry) for entry in paths)  # '' is the working directory
    key = "\0".join([group, sys.implementation.cache_tag or "", os.getcwd() if relative else "", *paths])
    return cache_file(STEM, key)  # files that collide are told apart by their content


def load(group: str, paths: Sequence[str] | None = None) -> list[Record] | None:
    """The cached entry points of ``group`` for ``paths`` (default ``sys.path``), or
    ``None`` when there is no valid cache for them as they are now."""
    paths = list(sys.path if paths is None else paths)
    try:
        with open(_file(group, paths), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("group") != group:
        return None
    if data.get("paths") != _fingerprint(paths):
        return None
    entries = data.get("entries")
    valid = isinstance(entries, list) and all(
        isinstance(e, list) and len(e) == 4 and isinstance(e[0], str) and isinstance(e[1], str) for e in entries
    )
    return entries if valid else None


def store(group: str, entries: Sequence[Record], paths: Sequence[str] | None = None) -> bool:
    """Write the cache of ``group`` for ``paths`` (default ``sys.path``); returns whether
    it was written (not when a path entry changed too recently, or on any error)."""
    paths = list(sys.path if paths is None else paths)
    fingerprint = _fingerprint(paths)
    newest = max((f[1] for f in fingerprint if f[1] is not None), default=0)
    if time.time_ns() - newest < SETTLE_SECONDS * 1e9:
        return False
    target = _file(group, paths)
    data = {"format": FORMAT, "group": group, "paths": fingerprint, "entries": [list(e) for e in entries]}
    try:
        directory = os.path.dirname(target)
        os.makedirs(directory, exist_ok=True)
        temporary = f"{target}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(temporary, target)
    except (OSError, ValueError, TypeError):
        return False
    _prune(directory)
    return True


def _prune(directory: str) -> None:
    """Keep the :data:`MAX_FILES` most recently written cache files (one per ``sys.path``
    seen: venvs, working directories, test runs)."""
    try:
        files = [e for e in os.scandir(directory) if e.name.startswith(PREFIX) and e.name.endswith(".json")]
        if len(files) <= MAX_FILES:
            return
        aged = sorted((entry.stat().st_mtime_ns, entry.path) for entry in files)
    except OSError:
        return
    for _, path in aged[: len(aged) - MAX_FILES]:
        try:
            os.unlink(path)
        except OSError:
            pass
