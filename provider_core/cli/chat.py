"""``provider-core chat -m MODEL [PROMPT]``: one prompt, routed by model name (or to
``--provider``), the reply streamed to stdout as it arrives."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from ..errors import one_line
from .output import CLIError, print_json, registry

EPILOG = """\
examples:
  provider-core chat -m gpt-4 'Hello'
  echo 'Summarize this' | provider-core chat -m gpt-4 --system 'Be brief'
  provider-core chat -m gpt-4o-mini --max-tokens 50 --usage 'One line on Paris'
  provider-core chat -m gpt-4o-mini --json 'Hi'     # one JSON object: text, provider, usage, ...
  AIVVM_BASE_URL=http://127.0.0.1:8765 provider-core chat --provider aivvm -m gpt-4 'Hi'
exit codes: 0 ok, 1 provider or routing failure, 2 bad input or usage, 130 interrupted"""


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "chat",
        help="send PROMPT (or stdin) to MODEL and stream the reply to stdout",
        description="Send one prompt, routed by model name (or to --provider), and stream the reply to stdout "
        "as it arrives. A provider that fails before its first chunk hands over to the next one "
        "(a 'warning:' line says so); after it, the text received stays on stdout and the error follows.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("prompt", nargs="*", metavar="PROMPT", help="the prompt; read from stdin when absent")
    p.add_argument("-m", "--model", required=True, help="model id, e.g. gpt-4 (see 'providers')")
    p.add_argument("--provider", "-p", metavar="NAME", help="call this provider, bypassing routing")
    p.add_argument("--system", "-s", metavar="S", help="system message")
    p.add_argument("--temperature", "-t", type=float, metavar="T", help="sampling temperature in [0, 2]")
    p.add_argument("--max-tokens", type=int, metavar="N", help="stop the reply after N tokens (finish reason 'length')")
    p.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="seconds to wait to connect, and for each next piece of the reply (default: the provider's)",
    )
    p.add_argument("--no-stream", action="store_true", help="wait for the whole reply, then print it")
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object at the end instead of the text: "
        "{text, model, provider, finish_reason, usage, tool_calls} (and error, after a failure midway)",
    )
    p.add_argument("--usage", action="store_true", help="print the token counts on stderr at the end")
    p.add_argument("--include-not-working", action="store_true", help="also route to providers marked not working")
    p.set_defaults(func=run)


def _read_prompt(args: argparse.Namespace, stdin: TextIO) -> str:
    if args.prompt:
        text = " ".join(args.prompt)
        if not text.strip():
            raise CLIError("no prompt: the prompt given is empty")
        return text
    if stdin.isatty():
        raise CLIError("no prompt: give it as an argument or pipe it on stdin")
    text = stdin.read()
    if not text.strip():
        raise CLIError("no prompt: stdin was empty")
    return text


def _failed_plugins_hint(exc: Exception) -> str | None:
    """For an unknown model, when some plugin failed to load: the error saying so (that
    plugin's provider may be the one serving the model), pointing at ``provider-core plugins``."""
    failed = [info.name for info in registry().failed_plugins() if info.status == "failed"]
    if not failed:
        return None
    names = ", ".join(repr(n) for n in failed[:3]) + (f" and {len(failed) - 3} more" if len(failed) > 3 else "")
    return f"{exc}; plugin {names} failed to load and may serve it: see 'provider-core plugins'"


def run(args: argparse.Namespace, out: TextIO) -> int:
    from ..completion import create_completion  # here: every CLI start imports this module
    from ..errors import ModelNotSupported, StreamInterrupted

    prompt = _read_prompt(args, sys.stdin)
    messages = []
    if args.system is not None:
        messages.append({"role": "system", "content": args.system})
    messages.append({"role": "user", "content": prompt})
    options: dict[str, Any] = {"temperature": args.temperature, "max_tokens": args.max_tokens}
    if args.timeout is not None:
        options["timeout"] = args.timeout
    try:
        result = create_completion(
            args.model,
            messages,
            stream=not args.no_stream,
            provider=args.provider,
            include_not_working=args.include_not_working,
            **options,
        )
    except ModelNotSupported as exc:
        hint = _failed_plugins_hint(exc) if exc.provider is None else None
        if hint is None:
            raise
        raise CLIError(hint) from exc
    except StreamInterrupted as exc:  # --no-stream: show what arrived before the fault
        _print_partial(args, exc, exc.partial_text or "", None, out)
        raise
    received: list[str] = []
    try:
        if args.json:
            received.extend(result)  # a ChatResult is one str: its characters, joined below
        else:
            _relay(result, out)
    except StreamInterrupted as exc:
        if args.json:
            _print_partial(args, exc, "".join(received), result, out)
        raise
    if args.json:
        print_json(_summary(args, "".join(received), result), out)
    if args.usage:
        _print_usage(result)
    return 0


def _relay(result: Any, out: TextIO) -> None:
    """Write the reply's text as it arrives, ending with a newline."""
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


def _summary(args: argparse.Namespace, text: str, result: Any) -> dict[str, Any]:
    """The object ``--json`` prints: the reply's text and what came with it."""
    usage = getattr(result, "usage", None)
    return {
        "text": text,
        "model": args.model,
        "provider": getattr(result, "provider", None),
        "finish_reason": getattr(result, "finish_reason", None),
        "usage": usage.to_dict() if usage is not None else None,
        "tool_calls": [call.to_openai() for call in getattr(result, "tool_calls", [])],
    }


def _print_partial(args: argparse.Namespace, exc: Exception, text: str, result: Any, out: TextIO) -> None:
    """After a fault midway, what arrived stays on stdout: the text, or with ``--json`` the
    object with the text so far and the error (the ``error:`` line follows on stderr)."""
    if args.json:
        data = _summary(args, text, result)
        data["error"] = {"type": type(exc).__name__, "message": one_line(exc)}
        print_json(data, out)
    elif text:
        out.write(text if text.endswith("\n") else text + "\n")
        out.flush()


def _print_usage(result: Any) -> None:
    usage = getattr(result, "usage", None)
    provider = getattr(result, "provider", None) or "the provider"
    if usage is None:
        sys.stderr.write(f"usage: not reported by {provider}\n")
    else:
        counts = f"{usage.prompt_tokens} prompt + {usage.completion_tokens} completion = {usage.total_tokens} tokens"
        sys.stderr.write(f"usage: {counts}\n")
