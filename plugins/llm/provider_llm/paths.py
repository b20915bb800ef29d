"""Where llm keeps its configuration, which of its files count as configuration, and
where the bridge keeps its index.

llm's user directory is ``$LLM_USER_PATH`` when that is set and not empty, else click's
application directory for ``io.datasette.llm`` (``$XDG_CONFIG_HOME/io.datasette.llm`` or
``~/.config/io.datasette.llm`` on Linux, ``~/Library/Application Support/io.datasette.llm``
on macOS, ``%APPDATA%\\io.datasette.llm`` on Windows). The same rule is followed here
without importing llm or click, and without creating the directory (llm creates it at
its first use).

Paths are strings (``os.path``), not :class:`pathlib.Path`: every command's start runs the
bridge's registration, and ``pathlib`` (with the modules it brings) was about a millisecond
of it (bench/RESULTS.md, "CLI cold start").
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

__all__ = [
    "ENV_LOAD_PLUGINS",
    "ENV_USER_PATH",
    "config_files",
    "index_path",
    "user_dir",
]

ENV_USER_PATH = "LLM_USER_PATH"
#: llm's own allow-list of plugin distributions (comma-separated), honoured as llm does.
ENV_LOAD_PLUGINS = "LLM_LOAD_PLUGINS"
LLM_APP_DIR = "io.datasette.llm"
#: Files of the user directory that are not configuration: llm's log and embedding
#: databases, written at every prompt.
_NOT_CONFIG_SUFFIXES = (".db", ".db-wal", ".db-shm", ".db-journal", "-journal")


def user_dir(environ: Mapping[str, str] | None = None) -> str:
    """llm's user directory (see the module documentation); not created."""
    env = os.environ if environ is None else environ
    explicit = env.get(ENV_USER_PATH)
    if explicit:
        return explicit
    if sys.platform.startswith("win"):
        return os.path.join(env.get("APPDATA") or os.path.expanduser("~"), LLM_APP_DIR)
    if sys.platform == "darwin":
        return os.path.join(os.path.expanduser("~/Library/Application Support"), LLM_APP_DIR)
    base = env.get("XDG_CONFIG_HOME", os.path.expanduser("~/.config"))
    return os.path.join(base, LLM_APP_DIR)


def config_files(directory: str | os.PathLike[str]) -> list[tuple[str, int, int]]:
    """``(name, modification time in ns, size)`` of every regular file directly in llm's
    user directory except its databases, sorted by name: what, changed, changes the models
    llm's plugins register (``extra-openai-models.yaml``, ``aliases.json``, ``keys.json``,
    ``default_model.txt``, a plugin's own cache file...). A missing directory: none."""
    found = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.endswith(_NOT_CONFIG_SUFFIXES):
                    continue
                try:
                    if not entry.is_file():
                        continue
                    stat = entry.stat()
                except OSError:
                    continue
                found.append((entry.name, stat.st_mtime_ns, stat.st_size))
    except OSError:
        return []
    return sorted(found)


def index_path(directory: str | os.PathLike[str]) -> str:
    """The index file for llm user directory ``directory`` as seen by this interpreter:
    ``llm-index-<digest>.json`` in provider-core's user cache directory
    (:func:`provider_core.userdirs.cache_file`: ``~/.cache/provider-core`` on Linux,
    ``$XDG_CACHE_HOME`` and ``PROVIDER_CORE_CACHE_DIR`` honoured). One file per user
    directory and interpreter, so two virtual environments or two ``LLM_USER_PATH`` values
    do not share one; were two to get one name, the key each index holds (checked when it
    is read) would make that a rebuild, not a wrong index."""
    from provider_core.userdirs import cache_file

    return cache_file("llm-index", f"{os.fspath(directory)}\0{sys.prefix}\0{sys.executable}")
