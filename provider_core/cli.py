"""The ``provider-core`` command: a thin layer over the library.

Exit codes: 0 success; 1 a provider or routing failure (no provider available, HTTP
error, interrupted stream); 2 a usage or input error (bad arguments, unknown model or
provider, invalid messages); 130 interrupted. Errors are one line on stderr, prefixed
``error:``; ``--debug`` adds the traceback. Warnings are one line each, ``warning:``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TextIO

from . import __version__

__all__ = ["main"]

#: Extra commands, each a module with ``add_parser(subparsers)`` (kept out of this file so
#: that each stays small; a missing optional module simply does not add its command).
EXTENSION_COMMANDS: tuple[str, ...] = (
    "provider_core.checks",
    "provider_core.gateway.command",
    "provider_core.health.probe",
)

USER_ERRORS = ("InvalidMessages", "ModelNotSupported", "ProviderNotFound")


class CLIError(Exception):
    """A user error detected by the CLI itself (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line on stderr (exit 2), like every other error of the CLI."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def _registry() -> Any:
    from .registry import get_registry

    return get_registry()


def _print_json(data: Any, out: TextIO) -> None:
    json.dump(data, out, indent=2, ensure_ascii=False)
    out.write("\n")


def _table(rows: Sequence[Sequence[str]], headers: Sequence[str], out: TextIO) -> None:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        out.write("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


# -- providers ---------------------------------------------------------------------------


def _status_reason(registry: Any, cls: type) -> str | None:
    """Why ``cls`` is not working (a ``provider_status`` hook, else its ``status_reason``);
    ``None`` while it works."""
    if registry.is_working(cls):
        return None
    hooked = getattr(registry, "status_reason", None)
    return (hooked(cls) if hooked is not None else None) or getattr(cls, "status_reason", None)


def provider_record(registry: Any, cls: type) -> dict[str, Any]:
    """The JSON object ``providers --json`` prints for one provider."""
    data = cls.describe()  # type: ignore[attr-defined]
    data["working_static"] = data["working"]
    data["working"] = registry.is_working(cls)
    data["plugin"] = registry.origin(cls)
    data["status_reason"] = _status_reason(registry, cls)
    return data


def cmd_providers(args: argparse.Namespace, out: TextIO) -> int:
    registry = _registry()
    working = True if args.working else None
    found = registry.providers(working=working, model=args.model)
    if args.json:
        _print_json({"providers": [provider_record(registry, p) for p in found]}, out)
        return 0
    if not found:
        out.write("no providers" + (" match" if args.working or args.model else " installed") + "\n")
        return 0
    rows = [
        (
            p.name,
            _yes(registry.is_working(p)),
            _yes(p.supports_stream),
            _yes(p.supports_gpt_35_turbo),
            _yes(p.supports_gpt_4),
            str(len(p.models)),
            registry.origin(p),
        )
        for p in found
    ]
    _table(rows, ("NAME", "WORKING", "STREAM", "GPT-3.5", "GPT-4", "MODELS", "PLUGIN"), out)
    for p in found:
        reason = _status_reason(registry, p)
        if reason:
            out.write(f"  {p.name}: not working: {reason}\n")
    return 0


# -- plugins -----------------------------------------------------------------------------


def cmd_plugins(args: argparse.Namespace, out: TextIO) -> int:
    registry = _registry()
    infos = registry.plugins()
    if args.json:
        _print_json({"plugins": [i.to_dict() for i in infos], "warnings": registry.warnings()}, out)
        return 0
    if all(i.status == "builtin" for i in infos):  # the core's own (the breaker) are listed, but not installed
        out.write("no plugins installed\n")
    rows = [(i.name, i.distribution or "-", i.version or "-", i.status, ", ".join(i.providers) or "-") for i in infos]
    if rows:
        _table(rows, ("PLUGIN", "DISTRIBUTION", "VERSION", "STATUS", "PROVIDERS"), out)
    for info in infos:
        for text in info.errors:
            out.write(f"  {info.name}: error: {text}\n")
        for text in info.warnings:
            out.write(f"  {info.name}: warning: {text}\n")
    return 0


# -- route -------------------------------------------------------------------------------


def cmd_route(args: argparse.Namespace, out: TextIO) -> int:
    from .routing import _override_hint, explain_route

    registry = _registry()
    plan = explain_route(registry, args.model, stream=args.stream, include_not_working=args.include_not_working)
    if args.json:
        _print_json(plan.to_dict(registry), out)
    else:
        if plan.candidates:
            out.write(f"{args.model}: {len(plan.candidates)} candidate(s), tried in this order:\n")
            for n, p in enumerate(plan.candidates, 1):
                out.write(f"  {n}. {p.name} (priority {p.priority}, plugin {registry.origin(p)})\n")
        else:
            out.write(f"{args.model}: no candidate\n")
        for a in plan.skipped:
            out.write(f"  skipped {a.provider}: {a.reason}\n")
    if not plan.candidates:
        hint = _override_hint(plan)
        sys.stderr.write(f"error: no working provider serves {args.model!r}." + (f" {hint}" if hint else "") + "\n")
        return 1
    return 0


# -- chat --------------------------------------------------------------------------------


def _read_prompt(args: argparse.Namespace, stdin: TextIO) -> str:
    if args.prompt:
        return " ".join(args.prompt)
    if stdin.isatty():
        raise CLIError("no prompt: give it as an argument or pipe it on stdin")
    text = stdin.read()
    if not text.strip():
        raise CLIError("no prompt: stdin was empty")
    return text


def _failed_plugins_hint(exc: Exception) -> str | None:
    """For an unknown model, when some plugin failed to load: the error saying so (that
    plugin's provider may be the one serving the model), pointing at ``provider-core plugins``."""
    failed = [info.name for info in _registry().failed_plugins() if info.status == "failed"]
    if not failed:
        return None
    names = ", ".join(repr(n) for n in failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
    return f"{exc}; plugin {names} failed to load and may serve it: see 'provider-core plugins'"


def cmd_chat(args: argparse.Namespace, out: TextIO) -> int:
    from .errors import ModelNotSupported, StreamInterrupted
    from .routing import create_completion

    prompt = _read_prompt(args, sys.stdin)
    messages = []
    if args.system is not None:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": prompt})
    options: dict[str, Any] = {}
    if args.temperature is not None:
        options["temperature"] = args.temperature
    if args.timeout is not None:
        options["timeout"] = args.timeout
    stream = not args.no_stream
    try:
        result = create_completion(
            args.model,
            messages,
            stream=stream,
            provider=args.provider,
            include_not_working=args.include_not_working,
            **options,
        )
    except ModelNotSupported as exc:
        hint = _failed_plugins_hint(exc) if exc.provider is None else None
        if hint is None:
            raise
        raise CLIError(hint) from exc
    except StreamInterrupted as exc:  # --no-stream: print what arrived before the fault
        if exc.partial_text:
            out.write(exc.partial_text if exc.partial_text.endswith("\n") else exc.partial_text + "\n")
            out.flush()
        raise
    last = ""
    try:
        if isinstance(result, str):
            out.write(result)
            last = result[-1:]
        else:
            for chunk in result:
                out.write(chunk)
                out.flush()
                last = chunk[-1:]
    finally:
        if last and last != "\n":
            out.write("\n")
        out.flush()
    return 0


# -- parser and main ---------------------------------------------------------------------


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

    p = sub.add_parser("providers", help="list installed providers and their capability flags")
    p.add_argument("--working", action="store_true", help="only providers working now")
    p.add_argument("--model", "-m", metavar="M", help="only providers that serve model M")
    p.add_argument("--json", action="store_true", help="print JSON: {providers: [{name, working, ...}]}")
    p.set_defaults(func=cmd_providers)

    p = sub.add_parser("plugins", help="list plugins: loaded, failed (with the error) or disabled")
    p.add_argument("--json", action="store_true", help="print JSON: {plugins: [...], warnings: [...]}")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("route", help="show which providers would serve MODEL, in order, and why others are skipped")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--stream", action="store_true", help="route as for a streamed request")
    p.add_argument("--include-not-working", action="store_true", help="also route to providers marked not working")
    p.add_argument("--json", action="store_true", help="print JSON: {model, stream, candidates, skipped}")
    p.set_defaults(func=cmd_route)

    p = sub.add_parser(
        "chat",
        help="send PROMPT (or stdin) to MODEL and stream the reply to stdout",
        description="Send one prompt, routed by model name (or to --provider), and stream the reply to stdout "
        "as it arrives. A provider that fails before its first chunk hands over to the next one "
        "(a 'warning:' line says so); after it, the text received stays on stdout and the error follows.",
        epilog="examples:\n"
        "  provider-core chat -m gpt-4 'Hello'\n"
        "  echo 'Summarize this' | provider-core chat -m gpt-4 --system 'Be brief'\n"
        "  AIVVM_BASE_URL=http://127.0.0.1:8765 provider-core chat --provider aivvm -m gpt-4 'Hi'\n"
        "exit codes: 0 ok, 1 provider or routing failure, 2 bad input or usage, 130 interrupted",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("prompt", nargs="*", metavar="PROMPT", help="the prompt; read from stdin when absent")
    p.add_argument("-m", "--model", required=True, help="model id, e.g. gpt-4 (see 'providers')")
    p.add_argument("--provider", "-p", metavar="NAME", help="call this provider, bypassing routing")
    p.add_argument("--system", "-s", metavar="S", help="system message")
    p.add_argument("--temperature", "-t", type=float, metavar="T", help="sampling temperature in [0, 2]")
    p.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="seconds to wait to connect, and for each next piece of the reply (default: the provider's)",
    )
    p.add_argument("--no-stream", action="store_true", help="wait for the whole reply, then print it")
    p.add_argument("--include-not-working", action="store_true", help="also route to providers marked not working")
    p.set_defaults(func=cmd_chat)

    for module_name in EXTENSION_COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        module.add_parser(sub)
    for command in sub.choices.values():  # --debug works after the command too
        try:
            command.add_argument(
                "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors"
            )
        except argparse.ArgumentError:
            pass  # the command has its own --debug
    return parser


def _show_warning(out: TextIO) -> Callable[..., None]:
    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        text = " ".join(str(message).split())
        out.write(f"warning: {text}\n")

    return show


def _exit_code(exc: BaseException) -> int:
    return 2 if type(exc).__name__ in USER_ERRORS or isinstance(exc, CLIError) else 1


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
    warnings.showwarning = _show_warning(sys.stderr)
    from .errors import ProviderError

    try:
        return int(args.func(args, sys.stdout))
    except (ProviderError, CLIError) as exc:
        _report(exc, args.debug)
        return _exit_code(exc)
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
        _report(exc, args.debug, prefix=f"internal error: {type(exc).__name__}: ", suffix=hint)
        return 1
    finally:
        warnings.showwarning = previous_showwarning


def _report(exc: BaseException, debug: bool, prefix: str = "", suffix: str = "") -> None:
    from .secrets import redact_secrets

    if debug:
        import traceback

        sys.stderr.write(redact_secrets("".join(traceback.format_exception(exc))))
    try:
        sys.stdout.flush()
    except OSError:
        pass
    sys.stderr.write(redact_secrets(f"error: {prefix}{' '.join(str(exc).split())}{suffix}\n"))


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
