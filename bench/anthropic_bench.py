"""The Anthropic plugin's stream: throughput and time to first chunk through
``provider_core.create_completion`` against the same stream read by hand (``requests``,
``iter_lines()``, ``json.loads`` per ``data:`` line, the ``text_delta`` text taken out).
Both sides read one loopback server (:mod:`bench.anthropic_server`, its own process),
alternating; every reply is checked to the character."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from .anthropic_server import stream_text
from .config import Config
from .measure import BenchError, Samples, alternate
from .report import Row
from .server import SMALL
from .streams import loopback_server

__all__ = ["bench_anthropic"]

MESSAGES = [{"role": "user", "content": "Stream me a long reply."}]
MODEL = "claude-haiku-5-5"
KEY = "sk-ant-bench-key"


def _sides(base_url: str, expected: str, first_only: bool) -> dict[str, Callable[[], tuple[float, float]]]:
    """Three readers of one reply (by hand, the provider class called directly, the whole
    library); each returns (wall, CPU) seconds to the end of the reply or to its first text."""
    import requests
    from provider_anthropic import configured
    from provider_anthropic.request import build_body
    from provider_anthropic.wire import auth_headers

    import provider_core

    provider = configured({"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": base_url})
    registry = provider_core.Registry(load_entry_points=False)
    registry.register(provider)
    url = f"{base_url}/v1/messages"
    body = build_body(MODEL, MESSAGES, True, {})  # the request the provider sends
    headers = {**auth_headers(KEY), "content-type": "application/json", "accept": "text/event-stream"}
    session = requests.Session()  # keep-alive, like the pooled transport: the fair baseline

    def timed(read: Callable[[], Iterator[str]], who: str) -> tuple[float, float]:
        cpu, start = time.process_time_ns(), time.perf_counter_ns()
        parts: list[str] = []
        first = first_cpu = 0
        for text in read():
            if not first:
                first, first_cpu = time.perf_counter_ns(), time.process_time_ns()
            parts.append(text)
        end, end_cpu = time.perf_counter_ns(), time.process_time_ns()
        got = "".join(parts)
        if got != expected:
            raise BenchError(f"{who} received {len(got):,} characters, not the {len(expected):,} sent")
        if first_only:
            return (first - start) / 1e9, (first_cpu - cpu) / 1e9
        return (end - start) / 1e9, (end_cpu - cpu) / 1e9

    def by_hand() -> Iterator[str]:
        with session.post(url, json=body, headers=headers, stream=True, timeout=30) as r:
            r.raise_for_status()
            for line in r.iter_lines(chunk_size=None):  # each HTTP chunk as it arrives
                if line.startswith(b"data: "):
                    event = json.loads(line[6:])
                    if event["type"] == "content_block_delta" and event["delta"]["type"] == "text_delta":
                        yield event["delta"]["text"]

    def plugin() -> Iterator[Any]:
        return (i for i in provider.create_completion(MODEL, MESSAGES, True) if type(i) is str)

    def library() -> Iterator[str]:
        return provider_core.create_completion(MODEL, MESSAGES, registry=registry)

    return {
        "by hand": lambda: timed(by_hand, "the hand-written reader"),
        "plugin": lambda: timed(plugin, "Anthropic.create_completion"),
        "library": lambda: timed(library, "provider_core.create_completion"),
    }


def _rate(samples: Samples, side: str, megabytes: float) -> str:
    return f"{megabytes / samples.median(side):,.1f} MB/s"


def _throughput_row(figure: str, samples: Samples, megabytes: float, deltas: int, how: str) -> Row:
    ratio = samples.ratio("by hand", "library")  # seconds by hand / seconds through the library
    return Row(
        figure,
        f"through `provider_core.create_completion` **{ratio:.3f}x** ({_rate(samples, 'library', megabytes)} vs "
        f"{_rate(samples, 'by hand', megabytes)}); `Anthropic.create_completion` "
        f"{samples.ratio('by hand', 'plugin'):.3f}x",
        "`requests` `iter_lines()` + `json.loads` per event, same server",
        ">= 0.9x through the library",
        ratio >= 0.9,
        [
            f"{deltas:,} `text_delta` events, {how}; every reply checked to the character; server in its own "
            "process; both clients keep their connection alive.",
            f"client CPU time per reply: by hand {samples.cpu_median('by hand'):.3f} s, plugin "
            f"{samples.cpu_median('plugin'):.3f} s, library {samples.cpu_median('library'):.3f} s "
            f"(CPU ratio {samples.cpu_ratio('by hand', 'library'):.3f}x).",
        ],
    )


def bench_anthropic(cfg: Config) -> list[Row]:
    try:
        import provider_anthropic  # noqa: F401
    except ImportError:
        why = "skipped: provider-core-anthropic is not installed in this environment."
        return [Row("Anthropic stream", "-", "-", ">= 0.9x, <= 0.5 ms", None, [why])]
    kib, delta = cfg.anthropic_kib, cfg.anthropic_delta
    text = stream_text(kib)
    megabytes = len(text.encode()) / 2**20
    deltas = -(-len(text) // delta)
    with loopback_server("bench.anthropic_server") as url:
        flushed = alternate(_sides(f"{url}/stream/{kib}/{delta}", text, False), cfg.anthropic_rounds)
        coalesced = alternate(_sides(f"{url}/stream/{kib}/{delta}/c65536", text, False), cfg.anthropic_rounds)
        small = alternate(_sides(f"{url}/small", SMALL, True), cfg.anthropic_ttfc_requests, warmup=5)
    overhead = small.difference("library", "by hand")
    return [
        _throughput_row(
            f"Anthropic stream throughput, {megabytes:,.1f} MB in {delta}-character deltas",
            flushed,
            megabytes,
            deltas,
            "one HTTP chunk per event as Anthropic flushes them",
        ),
        _throughput_row(
            "... the same stream in 64-KiB HTTP chunks",
            coalesced,
            megabytes,
            deltas,
            "in 64-KiB HTTP chunks that cut events and characters anywhere (a buffering proxy)",
        ),
        Row(
            "Anthropic time to first chunk, small reply",
            f"**{overhead * 1e3:+.3f} ms** through `provider_core.create_completion` "
            f"({small.median('library') * 1e3:.3f} vs {small.median('by hand') * 1e3:.3f} ms); "
            f"`Anthropic.create_completion` {small.difference('plugin', 'by hand') * 1e3:+.3f} ms",
            "the same request read by hand, same server",
            "overhead <= 0.5 ms",
            overhead <= 0.5e-3,
            [
                f"{cfg.anthropic_ttfc_requests} alternating requests of a one-delta reply; the overhead includes "
                "checking the messages (pydantic), routing, building the body and the typed-error wrapping.",
                f"in client CPU time to the first chunk: {small.cpu_difference('library', 'by hand') * 1e3:+.3f} ms.",
            ],
        ),
    ]
