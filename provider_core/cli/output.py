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

__all__ = ["CLIError", "print_json", "registry", "report_error", "show_warning", "table", "yes"]


class CLIError(Exception):
    """A usage or input error the CLI detects itself: one line on stderr, exit code 2."""

    exit_code = 2


def registry() -> Registry:
    """The process-wide registry (what every command reads)."""
    from ..defaults import get_registry

    return get_registry()


def print_json(data: Any, out: TextIO) -> None:
    json.dump(data, out, indent=2, ensure_ascii=False)
    out.write("\n")


def table(rows: Sequence[Sequence[str]], headers: Sequence[str], out: TextIO) -> None:
    """Columns padded to their widest cell, headers first."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        out.write("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def yes(flag: bool) -> str:
    return "yes" if flag else "no"


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
