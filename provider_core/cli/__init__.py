"""The ``provider-core`` command: a thin layer over the library, one module per command.

Exit codes: 0 success; 1 a provider or routing failure (no provider available, HTTP
error, interrupted stream); 2 a usage or input error (bad arguments, unknown model or
provider, invalid messages); 130 interrupted. An error's exit code is its type's
``exit_code`` (:class:`~provider_core.errors.ProviderError` and
:class:`~provider_core.cli.output.CLIError`). Errors are one line on stderr, prefixed
``error:``; ``--debug`` adds the traceback. Warnings are one line each, ``warning:``.

A command run with ``--json`` that fails (with an exception, a usage error included)
also prints a JSON error object on stdout, whatever the command
(:func:`~provider_core.cli.output.json_error`)::

    {"error": {"type": "ProviderNotFound", "message": "no provider named 'aivm'; did you mean 'Aivvm'? ...",
               "exit_code": 2, "suggestions": ["Aivvm"]}}

A mistyped command gets the closest ones suggested (``provders``: did you mean
``providers``?).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NoReturn

from ..errors import ProviderError
from ..version import __version__
from .output import CLIError, json_error, report_error, show_warning

__all__ = ["COMMANDS", "CLIError", "build_parser", "command_module", "main", "run"]

#: The commands, in the order ``--help`` lists them: each is the module
#: ``provider_core.cli.<name>``, with ``add_parser(subparsers)`` and ``run(args, out)``.
#: A run imports only its command's module (``--help`` imports them all), and a command
#: module imports the library it drives inside ``run``: both keep every start from
#: importing what it does not run (bench/RESULTS.md, "CLI cold start").
COMMANDS = (
    "providers",
    "models",
    "plugins",
    "route",
    "chat",
    "check",
    "probe",
    "refresh",
    "install",
    "uninstall",
    "serve",
)


class _UsageError(CLIError):
    """A usage error argparse found (exit code 2)."""


def _columns() -> int:
    """The terminal's width for help texts: ``$COLUMNS``, else stdout's terminal, else 80
    (what ``shutil.get_terminal_size`` says, without importing shutil, which brings bz2 and
    lzma along: a millisecond of every start)."""
    import os

    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


class _Formatter(argparse.HelpFormatter):
    """argparse's help formatter, given the width (so it does not import shutil)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None):
        super().__init__(prog, indent_increment, max_help_position, width or _columns() - 2)


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line on stderr (exit 2), like every other error of the CLI
    (and a JSON error object under ``--json``)."""

    def __init__(self, *args: Any, formatter_class: Any = _Formatter, **kwargs: Any) -> None:
        super().__init__(*args, formatter_class=formatter_class, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see '{self.prog} --help')")


def command_module(name: str) -> ModuleType:
    """The module of the command ``name`` (one of :data:`COMMANDS`), imported."""
    return importlib.import_module(f"{__name__}.{name}")


def _check_command(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names (the first word that is not an option: the CLI's own
    options take no value), or ``None``; an unknown one is a usage error naming the
    closest commands."""
    word = next((a for a in argv if not a.startswith("-")), None)
    names = list(COMMANDS)
    if word is None or word in names:
        return word
    import difflib  # only on this error path

    close = difflib.get_close_matches(word, names, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise _UsageError(f"unknown command {word!r}{hint} (see 'provider-core --help')", suggestions=close)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI's argument parser; with ``command``, holding only that command's parser
    (all a run of it needs: building every command's parser is a measurable part of each
    start, bench/RESULTS.md)."""
    parser = _Parser(
        prog="provider-core",
        description="List, route to and call the LLM chat providers installed as provider-core plugins.",
        epilog="Run 'provider-core COMMAND --help' for a command's options. "
        "Environment: PROVIDER_CORE_PLUGINS / PROVIDER_CORE_DISABLE_PLUGINS (comma-separated "
        "entry-point names) choose which plugins load.",
    )
    parser.add_argument("--version", action="version", version=f"provider-core {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS if command is None else (command,):
        command_module(name).add_parser(sub)
    for command_parser in sub.choices.values():  # --debug works after the command too
        command_parser.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors"
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    for stream in (sys.stdout, sys.stderr):  # text that cannot be encoded never ends a command
        try:
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass
    try:
        command = _check_command(argv)
        if command is not None and {"-h", "--help"} & set(argv[: argv.index(command)]):
            command = None  # the CLI's own help lists every command
        parser = build_parser(command)
        args = parser.parse_args(argv)
    except _UsageError as exc:
        return _failed(exc, as_json, debug=False)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    as_json = bool(getattr(args, "json", False))
    previous_showwarning = warnings.showwarning
    warnings.showwarning = show_warning(sys.stderr)
    try:
        return int(args.func(args, sys.stdout))
    except (ProviderError, CLIError) as exc:
        return _failed(exc, as_json, args.debug)
    except KeyboardInterrupt as exc:
        return _failed(exc, as_json, debug=False, code=130, text="interrupted")
    except BrokenPipeError:
        try:
            sys.stdout = open("/dev/null", "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return 1
    except Exception as exc:  # a bug here or in a plugin: still one line, unless --debug
        hint = "" if args.debug else " (run with --debug for the traceback)"
        return _failed(exc, as_json, args.debug, prefix=f"internal error: {type(exc).__name__}: ", suffix=hint)
    finally:
        warnings.showwarning = previous_showwarning


def _failed(
    exc: BaseException,
    as_json: bool,
    debug: bool,
    *,
    code: int | None = None,
    text: str | None = None,
    prefix: str = "",
    suffix: str = "",
) -> int:
    """Report ``exc``: the one ``error:`` line on stderr and, under ``--json``, the JSON
    error object on stdout. Returns the exit code (the exception type's, else 1)."""
    code = getattr(exc, "exit_code", 1) if code is None else code
    if text is None:
        report_error(exc, debug, prefix=prefix, suffix=suffix)
    else:
        sys.stderr.write(f"error: {text}\n")
    if as_json:
        try:
            json_error(exc, code, sys.stdout, text=text, prefix=prefix)
        except OSError:
            pass
    return code


def run(*, collector_off: bool = False) -> None:
    """Console-script entry point: run :func:`main` on ``sys.argv`` and exit with its code.

    ``collector_off``: the caller (:mod:`provider_core.__main__`) turned the garbage
    collector off before importing the CLI; it comes back on when the command's start-up
    is over (:mod:`provider_core.cli.startup`).

    Before exiting it freezes the garbage collector's objects (:func:`gc.freeze`): they are
    all still alive, and the interpreter's collections at exit would walk every one of them
    (17,000 after a ``providers`` run) to find no garbage: about 9 ms of each command
    (bench/RESULTS.md, "CLI cold start"). Objects are still freed, files flushed and
    ``atexit`` handlers run as usual; only cycles left by the command itself stay
    uncollected, and the process is ending.
    """
    import gc

    from . import startup

    if collector_off:
        startup.began()
    code = main()
    gc.freeze()
    sys.exit(code)
