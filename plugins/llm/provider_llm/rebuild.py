"""Getting the index: read it when its key still holds, else rebuild it in a child process.

The child (:mod:`provider_llm.builder`) is this interpreter with this process's
``sys.path`` and environment, so it sees the same distributions (``PYTHONPATH``
included). llm and its plugins are imported there, never here: an llm plugin that crashes
the interpreter, calls ``os._exit`` or hangs takes down the child only. The child names
each plugin before touching it; when it dies (or runs past the time limit) the plugin it
named last is left out, recorded as failed with what happened, and a new child builds the
index without it. Each plugin is left out at most once, so rebuilding ends.
"""

# No `from __future__ import annotations` here: the named tuple below evaluates its fields'
# annotations, and a string one (what that import makes of each) is compiled at every start
# (bench/RESULTS.md, "CLI cold start").
import json
import os
import sys
from collections.abc import Mapping
from typing import Any, NamedTuple

from provider_core.secrets import redact_secrets

from .discovery import index_key
from .index import Index, read_index, write_index
from .paths import index_path, user_dir

__all__ = ["ENV_BUILD_TIMEOUT", "build_index", "build_timeout", "load_index"]

ENV_BUILD_TIMEOUT = "PROVIDER_CORE_LLM_BUILD_TIMEOUT"
#: Seconds one child may take to import llm and every plugin (a plugin that hangs longer
#: is left out); ``PROVIDER_CORE_LLM_BUILD_TIMEOUT`` overrides it.
DEFAULT_BUILD_TIMEOUT = 120.0
#: The child: take this process's sys.path, then run the builder.
CHILD_CODE = (
    "import sys, json; request = json.loads(sys.stdin.readline()); sys.path[:] = request['path']; "
    "from provider_llm.builder import main; main(request)"
)
#: Most children started for one index (each failure leaves one more plugin out).
MAX_CHILDREN = 64


class _Outcome(NamedTuple):
    index: dict[str, Any] | None
    last: str | None
    why: str


def build_timeout(environ: Mapping[str, str]) -> float:
    raw = environ.get(ENV_BUILD_TIMEOUT, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_BUILD_TIMEOUT
    except ValueError:
        return DEFAULT_BUILD_TIMEOUT
    return value if 0 < value < float("inf") else DEFAULT_BUILD_TIMEOUT


def _last_line(stderr: bytes | str | None) -> str:
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr or ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return redact_secrets(lines[-1][:300]) if lines else ""


def _read(stdout: bytes | str | None) -> tuple[dict[str, Any] | None, str | None]:
    text = stdout.decode("utf-8", "replace") if isinstance(stdout, bytes) else stdout or ""
    index, last = None, None
    for line in text.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and isinstance(message.get("loading"), str):
            last = message["loading"]
        elif isinstance(message, dict) and isinstance(message.get("index"), dict):
            index = message["index"]
    return index, last


def _run_child(exclude: dict[str, str], environ: Mapping[str, str], timeout: float) -> _Outcome:
    import subprocess

    request = json.dumps({"path": sys.path, "exclude": exclude}) + "\n"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD_CODE],
            input=request.encode("utf-8"),
            capture_output=True,
            env=dict(environ),
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        index, last = _read(exc.stdout)
        return _Outcome(index, last, f"still loading after {timeout:g} s (the index builder was stopped)")
    except OSError as exc:
        return _Outcome(None, None, f"the index builder could not start: {exc.strerror or exc}")
    index, last = _read(proc.stdout)
    why = f"the index builder exited with code {proc.returncode} while loading it"
    detail = _last_line(proc.stderr)
    return _Outcome(index, last, f"{why} ({detail})" if detail else why)


def build_index(environ: Mapping[str, str] | None = None) -> Index:
    """Build the index in child processes (see the module documentation)."""
    env = os.environ if environ is None else environ
    timeout = build_timeout(env)
    exclude: dict[str, str] = {}
    for _ in range(MAX_CHILDREN):
        outcome = _run_child(exclude, env, timeout)
        if outcome.index is not None:
            try:
                return Index.from_dict(outcome.index)
            except (ValueError, TypeError, KeyError):
                return _failed(env, "the index builder wrote an index that cannot be read")
        culprit = outcome.last
        if culprit is None or culprit == "llm" or culprit in exclude:
            return _failed(env, outcome.why)
        exclude[culprit] = outcome.why
    return _failed(env, f"gave up after {MAX_CHILDREN} index builders")


def _failed(environ: Mapping[str, str], why: str) -> Index:
    return Index(index_key(user_dir(environ), environ), error=why)


def load_index(environ: Mapping[str, str] | None = None) -> Index:
    """The index for this interpreter and llm user directory: the stored one when its key
    still holds (no llm import, no child), else a new one, built and stored."""
    env = os.environ if environ is None else environ
    directory = user_dir(env)
    path = index_path(directory)
    key = index_key(directory, env)
    stored = read_index(path)
    if stored is not None and stored.key == key:
        return stored
    index = build_index(env)
    write_index(path, index)
    return index
