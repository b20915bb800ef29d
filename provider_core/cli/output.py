"""What the CLI's commands share: the registry they read, how they print (tables, JSON,
warnings, the one error line) and the error the CLI itself raises."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import one_line
from ..secrets import redact_secrets

if TYPE_CHECKING:
    from ..registry import Registry

__all__ = [
    "CLIError",
    "confirm",
    "json_error",
    "print_json",
    "registry",
    "report_error",
    "show_warning",
    "table",
    "yes",
]


class CLIError(Exception):
    """An error the CLI detects itself: one line on stderr, exit code 2 (a usage or input
    error) unless ``exit_code`` says otherwise."""

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None, suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
        #: close matches for a mistyped name (``--json`` error objects list them)
        self.suggestions = list(suggestions)


def registry() -> Registry:
    """The process-wide registry (what every command reads). In the console script it is
    loaded here, and that ends the start-up (:mod:`provider_core.cli.startup`)."""
    from ..defaults import get_registry
    from . import startup

    found = get_registry()
    if startup.in_progress():
        found.load()
        startup.ended()
    return found


def print_json(data: Any, out: TextIO) -> None:
    """``data`` as indented JSON and a newline, in one write: :func:`json.dump` writes each
    token on its own, and an unbuffered stdout (``PYTHONUNBUFFERED``, common in containers)
    makes each a system call: 8,000 of them for a hundred providers."""
    out.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def json_error(exc: BaseException, exit_code: int, out: TextIO, *, text: str | None = None, prefix: str = "") -> None:
    """The JSON error object of a failed ``--json`` command: ``{"error": {"type",
    "message", "exit_code", "suggestions"}}`` (``suggestions``: close matches for a
    mistyped name, else ``[]``), through the one redaction step."""
    print_json({"error": error_object(exc, exit_code, text=text, prefix=prefix)}, out)


def error_object(exc: BaseException, exit_code: int, *, text: str | None = None, prefix: str = "") -> dict[str, Any]:
    """The ``error`` member of a JSON document: ``{"type", "message", "exit_code",
    "suggestions"}``, through the one redaction step."""
    message = text if text is not None else prefix + one_line(exc)
    suggestions = getattr(exc, "suggestions", None)
    return {
        "type": type(exc).__name__.lstrip("_"),
        "message": redact_secrets(message),
        "exit_code": exit_code,
        "suggestions": [str(s) for s in suggestions] if isinstance(suggestions, (list, tuple)) else [],
    }


def table(rows: Sequence[Sequence[str]], headers: Sequence[str], out: TextIO) -> None:
    """Columns padded to their widest cell, headers first."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        out.write("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def yes(flag: bool) -> str:
    return "yes" if flag else "no"


def confirm(question: str, assume_yes: bool, flag: str = "--yes") -> bool:
    """Ask ``question [y/N]`` on stderr and read the answer from stdin; ``assume_yes``
    (the command's ``-y``) answers yes. Without a terminal to ask, a :class:`CLIError`
    says to pass ``flag``."""
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        raise CLIError(f"{question} Not asked: stdin is not a terminal; pass {flag} to go ahead")
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def show_warning(out: TextIO) -> Callable[..., None]:
    """A ``warnings.showwarning`` writing each warning as one ``warning:`` line."""

    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        out.write(f"warning: {one_line(message)}\n")

    return show


def report_error(exc: BaseException, debug: bool, prefix: str = "", suffix: str = "") -> None:
    """The one ``error:`` line for ``exc`` on stderr (its traceback first with ``debug``),
    through the one redaction step."""
    if debug:
        import traceback

        sys.stderr.write(redact_secrets("".join(traceback.format_exception(exc))))
    try:
        sys.stdout.flush()
    except OSError:
        pass
    sys.stderr.write(f"error: {prefix}{one_line(exc)}{suffix}\n")


def seconds_option(text: str) -> float:
    """An argparse type: a number of seconds in (0, 3600]."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"must be in (0, 3600] seconds, got {text}")
    return value
