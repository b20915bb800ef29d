"""The Gemini plugin's stream: throughput and time to first chunk through
``provider_core.create_completion``, against the same stream read by hand (``requests``,
``iter_lines()``, ``json.loads`` per ``data:`` line, the text parts picked out). A third
side, the core's own reading of the stream with nothing of the plugin (the transport,
``iter_text``, one ``SSEParser``, ``json_loads``, the text picked out), shows what the
core leaves for a plugin. Every side reads one loopback server (:mod:`bench.gemini_server`,
its own process); every reply is checked to the character, the library's usage and finish
reason too."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from .config import Config
from .gemini_server import FINAL_USAGE, MODEL, expected_text
from .measure import BenchError, Samples, alternate
from .report import Row
from .server import BLOCK, blocks_for
from .streams import loopback_server

__all__ = ["bench_gemini"]

MESSAGES = [{"role": "user", "content": "Stream me a long reply."}]
KEY = "bench-key"


def _sides(base_url: str, blocks: int, first_only: bool) -> dict[str, Callable[[], tuple[float, float]]]:
    """The readers of the stream at ``base_url``; each returns (wall, CPU) seconds to the
    end of the reply or, with ``first_only``, to its first text."""
    import requests
    from provider_gemini.provider import configure

    import provider_core
    from provider_core.events import Usage
    from provider_core.sse import SSEParser
    from provider_core.streaming import iter_text, json_loads
    from provider_core.transport import stream_post

    expected = expected_text(blocks)
    usage = Usage(FINAL_USAGE["promptTokenCount"], FINAL_USAGE["candidatesTokenCount"])
    registry = provider_core.Registry(load_entry_points=False)
    registry.register(configure({"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": base_url}))
    session = requests.Session()  # a pooled connection, as the transport has: a fair baseline
    url = f"{base_url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    body = {"contents": [{"role": "user", "parts": [{"text": MESSAGES[0]["content"]}]}]}
    headers = {"x-goog-api-key": KEY, "accept": "text/event-stream"}

    def timed(read: Callable[[list[str]], Any], who: str) -> tuple[float, float]:
        parts: list[str] = []
        cpu, start = time.process_time_ns(), time.perf_counter_ns()
        first = read(parts)
        end, end_cpu = time.perf_counter_ns(), time.process_time_ns()
        if first is None:
            raise BenchError(f"{who} received no text")
        if first_only:
            end, end_cpu = first
        text = "".join(parts)
        if text != expected:
            raise BenchError(f"{who} received {len(text):,} characters, not the {len(expected):,} sent")
        return (end - start) / 1e9, (end_cpu - cpu) / 1e9

    def by_hand(parts: list[str]) -> Any:
        first = None
        with session.post(url, json=body, headers=headers, stream=True, timeout=30) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                if not line.startswith(b"data: "):
                    continue
                event = json.loads(line[6:])
                for part in event["candidates"][0].get("content", {}).get("parts", ()):
                    text = part.get("text")
                    if text:
                        if first is None:
                            first = time.perf_counter_ns(), time.process_time_ns()
                        parts.append(text)
        return first

    def core_reader(parts: list[str]) -> Any:
        first = None
        parser = SSEParser()
        for text in iter_text(stream_post("bench", url, json=body, headers=headers, timeout=30)):
            for event in parser.feed(text):
                for part in json_loads(event.data)["candidates"][0].get("content", {}).get("parts", ()):
                    piece = part.get("text")
                    if piece:
                        if first is None:
                            first = time.perf_counter_ns(), time.process_time_ns()
                        parts.append(piece)
        return first

    def library(parts: list[str]) -> Any:
        first = None
        completion = provider_core.create_completion(MODEL, MESSAGES, registry=registry)
        for text in completion:
            if first is None:
                first = time.perf_counter_ns(), time.process_time_ns()
            parts.append(text)
        if (completion.usage, completion.finish_reason) != (usage, "stop"):
            raise BenchError(f"the library reported {completion.usage} and {completion.finish_reason!r}")
        return first

    sides = {
        "by hand": lambda: timed(by_hand, "the hand-written reader"),
        "library": lambda: timed(library, "provider_core.create_completion"),
    }
    if not first_only:
        sides["core reader"] = lambda: timed(core_reader, "the core's reader")
    return sides


def _frames(blocks: int, piece: int) -> int:
    return -(-len(expected_text(blocks)) // piece) + 1


def bench_gemini(cfg: Config) -> list[Row]:
    try:
        import provider_gemini  # noqa: F401
    except ImportError:
        why = "provider-core-gemini is not installed in this environment"
        return [
            Row("Gemini stream throughput", "-", "-", ">= 0.9x", None, [f"skipped: {why}."]),
            Row("Gemini time to first chunk", "-", "-", "overhead <= 0.5 ms", None, [f"skipped: {why}."]),
        ]
    blocks = blocks_for(cfg.gemini_mb)
    with loopback_server("bench.gemini_server") as url:
        rows = []
        for piece in cfg.gemini_pieces:
            samples = alternate(_sides(f"{url}/text/{blocks}/{piece}", blocks, False), cfg.gemini_rounds)
            rows.append(_throughput_row(samples, blocks, piece, cfg))
        small = alternate(_sides(f"{url}/small/{cfg.gemini_pieces[0]}", 0, True), cfg.gemini_ttfc_requests, warmup=5)
    return [*rows, _ttfc_row(small, cfg)]


def _throughput_row(big: Samples, blocks: int, piece: int, cfg: Config) -> Row:
    size = blocks * len(BLOCK.encode()) / 2**20
    ratio = big.ratio("by hand", "library")  # seconds by hand / seconds through the library

    def rate(side: str) -> str:
        return f"{size / big.median(side):,.1f} MB/s"

    return Row(
        f"Gemini stream throughput, {size:,.0f} MB mixed Cyrillic/CJK/emoji in {piece}-character deltas",
        f"through `provider_core.create_completion` **{ratio:.3f}x** ({rate('library')} vs {rate('by hand')}); "
        f"the core's reader alone {big.ratio('by hand', 'core reader'):.3f}x ({rate('core reader')})",
        "the same stream with `requests` `iter_lines()` + `json.loads`, same server",
        ">= 0.9x",
        ratio >= 0.9,
        [
            f"{_frames(blocks, piece):,} `streamGenerateContent` frames (`data: ...\\r\\n\\r\\n`, one HTTP chunk each, "
            f"usage snapshot and model version in every frame, as Google sends them); {cfg.gemini_rounds} "
            "alternating rounds; server in its own process; every client keeps its connection alive; the text "
            "is checked to the character on every side, the library's usage and finish reason too.",
            "the core's reader: `stream_post` + `iter_text` + one `SSEParser` fed the text as it arrives + "
            "`json_loads`, the text picked out; nothing of the plugin or of `Completion`. (Both read a frame that "
            "is one HTTP chunk with the parser's whole-event path, Google's `\\r\\n` line ends included.)",
            f"client CPU per reply: by hand {big.cpu_median('by hand'):.3f} s, the core's reader "
            f"{big.cpu_median('core reader'):.3f} s, library {big.cpu_median('library'):.3f} s (CPU ratio "
            f"{big.cpu_ratio('by hand', 'library'):.3f}x).",
        ],
    )


def _ttfc_row(small: Samples, cfg: Config) -> Row:
    overhead = small.difference("library", "by hand")
    return Row(
        "Gemini time to first chunk, small reply",
        f"**{overhead * 1e3:+.3f} ms** through `provider_core.create_completion` "
        f"({small.median('library') * 1e3:.3f} vs {small.median('by hand') * 1e3:.3f} ms)",
        "the same request read by hand with `requests`",
        "overhead <= 0.5 ms",
        overhead <= 0.5e-3,
        [
            f"{cfg.gemini_ttfc_requests} alternating requests; the overhead includes validating the request "
            "(the core, once), routing, translating it to Gemini's body and the typed-error wrapping; in client "
            f"CPU time {small.cpu_difference('library', 'by hand') * 1e3:+.3f} ms."
        ],
    )
