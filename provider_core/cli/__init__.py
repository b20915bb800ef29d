"""The ``provider-core`` command: a thin layer over the library, one module per command.

Exit codes: 0 success; 1 a provider or routing failure (no provider available, HTTP
error, interrupted stream); 2 a usage or input error (bad arguments, unknown model or
provider, invalid messages); 130 interrupted. An error's exit code is its type's
``exit_code`` (:class:`~provider_core.errors.ProviderError` and
:class:`~provider_core.cli.output.CLIError`). Errors are one line on stderr, prefixed
``error:``; ``--debug`` adds the traceback. Warnings are one line each, ``warning:``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

from ..errors import ProviderError
from ..version import __version__
from . import chat, check, plugins, probe, providers, route, serve
from .output import CLIError, report_error, show_warning

__all__ = ["COMMANDS", "CLIError", "build_parser", "main", "run"]

#: The commands, in the order ``--help`` lists them; each module has ``add_parser(subparsers)``
#: and ``run(args, out)``. Every CLI start imports all of them, so a command module imports
#: the library it drives inside ``run`` (bench/RESULTS.md, "CLI cold start", says what that
#: saves), and its module level holds only what ``--help`` needs.
COMMANDS = (providers, plugins, route, chat, check, probe, serve)


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line on stderr (exit 2), like every other error of the CLI."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
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
    for command in COMMANDS:
        command.add_parser(sub)
    for command_parser in sub.choices.values():  # --debug works after the command too
        command_parser.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors"
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    for stream in (sys.stdout, sys.stderr):  # text that cannot be encoded never ends a command
        try:
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass
    previous_showwarning = warnings.showwarning
    warnings.showwarning = show_warning(sys.stderr)
    try:
        return int(args.func(args, sys.stdout))
    except (ProviderError, CLIError) as exc:
        report_error(exc, args.debug)
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except BrokenPipeError:
        try:
            sys.stdout = open("/dev/null", "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return 1
    except Exception as exc:  # a bug here or in a plugin: still one line, unless --debug
        hint = "" if args.debug else " (run with --debug for the traceback)"
        report_error(exc, args.debug, prefix=f"internal error: {type(exc).__name__}: ", suffix=hint)
        return 1
    finally:
        warnings.showwarning = previous_showwarning


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
