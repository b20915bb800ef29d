"""A streamed tool call: the time until the caller holds the assembled call, through the
OpenAI plugin and ``provider_core.create_completion``, against the same stream read by
hand (``requests``, the ``data:`` lines parsed as JSON, the argument pieces joined).
Both sides read one loopback server (:mod:`bench.server`, its own process)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from .config import Config
from .measure import BenchError, alternate
from .report import Row
from .server import tool_arguments
from .streams import loopback_server

__all__ = ["bench_tool_call"]

MESSAGES = [{"role": "user", "content": "Look these up."}]
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}


def _sides(base_url: str, pieces: int) -> dict[str, Callable[[], tuple[float, float]]]:
    import requests
    from provider_openai.config import EndpointConfig
    from provider_openai.models import ModelList
    from provider_openai.provider import make_provider

    import provider_core

    expected = tool_arguments(pieces)
    endpoint = EndpointConfig(name="bench-tools", base_url=base_url, source="bench")
    provider = make_provider(endpoint, ModelList({"bench-tools": "Bench tools"}, "bench"))
    registry = provider_core.Registry(load_entry_points=False)
    registry.register(provider)
    session = requests.Session()
    body = {"model": "bench-tools", "messages": MESSAGES, "tools": [TOOL], "stream": True}

    def timed(read: Callable[[], str], who: str) -> tuple[float, float]:
        cpu, start = time.process_time_ns(), time.perf_counter_ns()
        arguments = read()
        wall, cpu = time.perf_counter_ns() - start, time.process_time_ns() - cpu
        if arguments != expected:
            raise BenchError(f"{who} assembled {len(arguments):,} characters of arguments, expected {len(expected):,}")
        return wall / 1e9, cpu / 1e9

    def by_hand() -> str:
        parts: list[str] = []
        with session.post(f"{base_url}/chat/completions", json=body, stream=True, timeout=30) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                if not line.startswith(b"data: ") or line == b"data: [DONE]":
                    continue
                event = json.loads(line[6:])
                for choice in event["choices"]:
                    for call in choice["delta"].get("tool_calls") or ():
                        parts.append(call["function"].get("arguments") or "")
        return "".join(parts)

    def library() -> str:
        completion = provider_core.create_completion("bench-tools", MESSAGES, tools=[TOOL], registry=registry)
        for _ in completion:
            pass
        (call,) = completion.tool_calls
        return call.arguments

    return {
        "by hand": lambda: timed(by_hand, "the hand-written reader"),
        "library": lambda: timed(library, "provider_core.create_completion"),
    }


def bench_tool_call(cfg: Config) -> list[Row]:
    try:
        import provider_openai  # noqa: F401
    except ImportError:
        why = "provider-core-openai is not installed in this environment"
        return [Row("streamed tool call", "-", "-", "reported", None, [f"skipped: {why}."])]
    pieces = cfg.tool_pieces
    with loopback_server() as url:
        samples = alternate(_sides(f"{url}/toolcall/{pieces}", pieces), cfg.tool_rounds)
    ratio = samples.ratio("by hand", "library")  # seconds by hand / seconds through the library
    size = len(tool_arguments(pieces))
    notes: list[str] = [
        f"one call whose {size:,}-character JSON arguments arrive in {pieces:,} server-sent events (one HTTP chunk "
        f"each, as a server flushes them), then the finish reason, the usage and [DONE]; {cfg.tool_rounds} "
        "alternating rounds; the arguments are checked to the character on both sides.",
        "by hand: requests, iter_lines(), json.loads per event, the pieces joined: "
        f"{samples.median('by hand') * 1e3:.1f} ms; the library (the OpenAI plugin's SSE parser, the core's "
        "checks and assembly): "
        f"{samples.median('library') * 1e3:.1f} ms (CPU ratio {samples.cpu_ratio('by hand', 'library'):.3f}x).",
    ]
    return [
        Row(
            f"streamed tool call, {pieces:,} argument deltas",
            f"**{ratio:.3f}x** the speed of reading it by hand ({samples.median('library') * 1e3:.1f} ms to the "
            f"assembled call vs {samples.median('by hand') * 1e3:.1f} ms)",
            "the same stream parsed by hand with `requests`",
            "reported",
            None,
            notes,
        )
    ]
