"""Streaming figures against a loopback server (:mod:`bench.server`, its own process):
throughput and time to first chunk against plain requests, peak memory for a long reply,
and many threads streaming at once. Every reply is checked to the last character."""

from __future__ import annotations

import contextlib
import json
import select
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from .config import Config
from .measure import REPO, BenchError, Samples, alternate, child_env, median
from .report import Row
from .server import BLOCK, BLOCK_UTF8, SMALL, blocks_for

__all__ = ["bench_concurrency", "bench_memory", "bench_stream"]

MESSAGES = [{"role": "user", "content": "Stream me a long reply."}]
MODEL = "gpt-4"


@contextlib.contextmanager
def loopback_server(module: str = "bench.server") -> Iterator[str]:
    """Start :mod:`bench.server` (or another server ``module`` that prints its port and
    serves until its stdin closes) in a child process; yield ``http://127.0.0.1:PORT``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module],
        cwd=REPO,
        env=child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline().decode().strip() if ready else ""  # type: ignore[union-attr]
        if not line.isdigit():
            raise BenchError(f"the loopback server did not start (printed {line!r})")
        yield f"http://127.0.0.1:{line}"
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _aivvm() -> Any:
    """The Aivvm provider class, through the registry (as a user finds it), or None."""
    from provider_core import ProviderNotFound, get_registry

    try:
        return get_registry().get("Aivvm")
    except ProviderNotFound:
        return None


def _skipped(figure: str, target: str) -> list[Row]:
    why = "provider-core-aivvm is not installed in this environment"
    return [Row(figure, "-", "-", target, None, [f"skipped: {why}."])]


def _check(chars: int, expected: int, who: str) -> None:
    if chars != expected:
        raise BenchError(f"{who} received {chars:,} characters, expected {expected:,}")


def _sides(aivvm: Any, base_url: str, expected: int, first_only: bool) -> dict[str, Callable[[], float]]:
    """Three ways to read one reply: plain requests, Aivvm.create_completion, and the whole
    library. Each returns (wall, CPU) seconds: to the end of the reply, or to its first chunk."""
    import requests
    from provider_aivvm.provider import build_request

    import provider_core

    request = build_request(MODEL, MESSAGES, base_url=base_url)  # the exact request Aivvm sends
    session = requests.Session()  # a pooled connection, as the transport has: a fair baseline

    def consume(open_text: Callable[[], Iterator[str]], who: str) -> tuple[float, float]:
        """(wall, CPU) seconds of this process, to the end of the reply or its first chunk."""
        cpu = time.process_time_ns()
        start = time.perf_counter_ns()
        it = open_text()
        chars = 0
        first = first_cpu = 0
        for text in it:
            if not first:
                first, first_cpu = time.perf_counter_ns(), time.process_time_ns()
            chars += len(text)
        end, end_cpu = time.perf_counter_ns(), time.process_time_ns()
        _check(chars, expected, who)
        if first_only:
            return (first - start) / 1e9, (first_cpu - cpu) / 1e9
        return (end - start) / 1e9, (end_cpu - cpu) / 1e9

    def plain() -> Iterator[str]:
        r = session.post(request.url, json=request.body, headers=request.headers, stream=True, timeout=request.timeout)
        r.raise_for_status()
        with r:
            yield from r.iter_content(chunk_size=None, decode_unicode=True)

    def provider() -> Iterator[str]:
        return aivvm.create_completion(MODEL, MESSAGES, True, base_url=base_url)

    def library() -> Iterator[str]:
        return provider_core.create_completion(MODEL, MESSAGES, provider="Aivvm", base_url=base_url)

    return {
        "requests": lambda: consume(plain, "requests"),
        "aivvm": lambda: consume(provider, "Aivvm.create_completion"),
        "library": lambda: consume(library, "provider_core.create_completion"),
    }


def bench_stream(cfg: Config) -> list[Row]:
    aivvm = _aivvm()
    if aivvm is None:
        return [
            *_skipped("streaming throughput", ">= 0.95x"),
            *_skipped("streaming throughput, token-sized chunks", ">= 0.95x"),
            *_skipped("time to first chunk", "overhead <= 0.5 ms"),
        ]
    blocks = blocks_for(cfg.stream_mb)
    size = blocks * len(BLOCK_UTF8)
    with loopback_server() as url, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # naming Aivvm (marked not working) warns on every call
        big = alternate(_sides(aivvm, f"{url}/stream/{blocks}", blocks * len(BLOCK), False), cfg.stream_rounds)
        fine_blocks = blocks_for(cfg.small_chunk_mb)
        fine_url = f"{url}/stream/{fine_blocks}/c{cfg.small_chunk}"
        fine = alternate(_sides(aivvm, fine_url, fine_blocks * len(BLOCK), False), cfg.stream_rounds)
        small = alternate(_sides(aivvm, f"{url}/small", len(SMALL), True), cfg.ttfc_requests, warmup=5)
    mb = size / 2**20

    fine_mb = fine_blocks * len(BLOCK_UTF8) / 2**20

    def rate(side: str, samples: Samples = big, size: float = mb) -> str:
        return f"{size / samples.median(side):,.0f} MB/s"

    def fine_rate(side: str) -> str:
        return rate(side, fine, fine_mb)

    ratio = big.ratio("requests", "aivvm")  # seconds(requests) / seconds(aivvm) = throughput ratio
    ratio_lib = big.ratio("requests", "library")
    ttfc = small.difference("aivvm", "requests")
    ttfc_lib = small.difference("library", "requests")
    return [
        Row(
            f"streaming throughput, {mb:,.0f} MB mixed Cyrillic/CJK/emoji",
            f"through `provider_core.create_completion` **{ratio_lib:.3f}x** ({rate('library')} vs "
            f"{rate('requests')}); `Aivvm.create_completion` {ratio:.3f}x ({rate('aivvm')})",
            "`requests` `iter_content(None, decode_unicode=True)`, same server",
            ">= 0.95x through the library",
            ratio_lib >= 0.95,
            [
                f"{blocks} x {len(BLOCK_UTF8):,}-byte blocks in {64}-KiB HTTP chunks that cut characters; every "
                f"reply is checked to the character; {cfg.stream_rounds} alternating rounds; server in its own "
                "process; both clients keep their connection alive.",
                f"client CPU time per reply: Aivvm {big.cpu_median('aivvm'):.2f} s, requests "
                f"{big.cpu_median('requests'):.2f} s, library {big.cpu_median('library'):.2f} s "
                f"(CPU ratio {big.cpu_ratio('requests', 'aivvm'):.3f}x; the rest of the wall time is the "
                "server and the kernel's loopback copy).",
            ],
        ),
        Row(
            f"streaming throughput, {fine_mb:,.0f} MB in {cfg.small_chunk}-byte chunks (token-sized)",
            f"through `provider_core.create_completion` **{fine.ratio('requests', 'library'):.3f}x** "
            f"({fine_rate('library')} vs {fine_rate('requests')}); `Aivvm.create_completion` "
            f"{fine.ratio('requests', 'aivvm'):.3f}x ({fine_rate('aivvm')})",
            "the same, with `requests`",
            ">= 0.9x through the library",
            fine.ratio("requests", "library") >= 0.9,
            [
                "a server that flushes every few tokens: the per-chunk work of each layer (HTTP chunk parsing, "
                "decoding, the fallback wrapper's checks) shows here, not in the 64-KiB figure.",
                f"client CPU ratio {fine.cpu_ratio('requests', 'aivvm'):.3f}x (library "
                f"{fine.cpu_ratio('requests', 'library'):.3f}x).",
            ],
        ),
        Row(
            "time to first chunk, small reply",
            f"**{ttfc * 1e3:+.3f} ms** ({small.median('aivvm') * 1e3:.3f} vs {small.median('requests') * 1e3:.3f} ms); "
            f"through `provider_core.create_completion` {ttfc_lib * 1e3:+.3f} ms",
            "the same request with `requests`, same server",
            "overhead <= 0.5 ms",
            ttfc <= 0.5e-3,
            [
                f"{cfg.ttfc_requests} alternating requests of a {len(SMALL.encode())}-byte reply; the overhead "
                "includes building and validating the request (pydantic) and the typed-error wrapping.",
                f"in client CPU time to the first chunk: {small.cpu_difference('aivvm', 'requests') * 1e3:+.3f} ms "
                f"(library {small.cpu_difference('library', 'requests') * 1e3:+.3f} ms).",
            ],
        ),
    ]


def _child(kind: str, *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.child", kind, *args],
        cwd=REPO,
        env=child_env(),
        capture_output=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"bench.child {kind} failed: {proc.stderr.decode()[-800:]}")
    return json.loads(proc.stdout)


def bench_memory(cfg: Config) -> list[Row]:
    if _aivvm() is None:
        return _skipped("memory", "< 5 MB growth")
    small_blocks, big_blocks = blocks_for(cfg.memory_small_mb), blocks_for(cfg.memory_big_mb)
    out: dict[str, list[dict[str, Any]]] = {"small": [], "big": []}
    with loopback_server() as url:

        def run(name: str, blocks: int) -> Callable[[], float]:
            def side() -> float:
                result = _child("memory", f"{url}/stream/{blocks}")
                _check(result["chars"], blocks * len(BLOCK), f"memory child ({name})")
                out[name].append(result)
                return float(result["hwm_kb"])

            return side

        samples = alternate({"small": run("small", small_blocks), "big": run("big", big_blocks)}, cfg.memory_rounds, 0)
    growth_kb = samples.difference("big", "small")
    big_mb = big_blocks * len(BLOCK_UTF8) / 2**20
    small_mb = small_blocks * len(BLOCK_UTF8) / 2**20
    secs = median([r["seconds"] for r in out["big"]])
    return [
        Row(
            f"memory, peak RSS streaming {big_mb:,.0f} MB vs {small_mb:,.0f} MB",
            f"**{round(growth_kb / 1024, 2) + 0.0:+.2f} MB** ({samples.median('big') / 1024:.1f} vs "
            f"{samples.median('small') / 1024:.1f} MB peak)",
            f"the same process streaming {small_mb:,.0f} MB",
            "< 5 MB growth",
            growth_kb < 5 * 1024,
            [
                f"separate processes, VmHWM from /proc (ru_maxrss agrees), {cfg.memory_rounds} alternating rounds, "
                f"through `provider_core.create_completion(provider='Aivvm')`; the long reply took {secs:.1f} s."
            ],
        )
    ]


def bench_concurrency(cfg: Config) -> list[Row]:
    if _aivvm() is None:
        return _skipped("concurrency", "no errors, throughput reported")
    blocks = blocks_for(cfg.thread_mb)
    expected = blocks * len(BLOCK)
    with loopback_server() as url:
        result = _child("threads", f"{url}/stream/{blocks}", str(cfg.threads), str(cfg.concurrency_rounds))
    for chars in result["chars"]:
        _check(chars, expected, "a thread")
    errors = result["errors"]
    total_mb = cfg.threads * blocks * len(BLOCK_UTF8) / 2**20
    secs = median(result["seconds"])
    seq = median(result["sequential_seconds"])
    notes = [
        f"one process, {cfg.threads} threads released together, each streaming {total_mb / cfg.threads:.0f} MB "
        f"through `provider_core.create_completion` (pooled connections); peak RSS "
        f"{result['hwm_kb'] / 1024:.0f} MB; {cfg.concurrency_rounds} alternating rounds after one warm-up request. "
        "On 2 cores shared "
        "with the server process and one GIL, threads overlap waiting, not decoding."
    ]
    if errors:
        notes.append(f"errors: {'; '.join(sorted(set(errors))[:3])}")
    return [
        Row(
            f"concurrency, {cfg.threads} threads x {total_mb / cfg.threads:.0f} MB",
            f"{len(errors)} errors; {total_mb / secs:,.0f} MB/s aggregate ({secs:.2f} s for {total_mb:.0f} MB), "
            f"{seq / secs:.2f}x the same requests made one after another",
            f"the {cfg.threads} requests in one thread ({total_mb / seq:,.0f} MB/s)",
            "no errors, throughput reported",
            not errors,
            notes,
        )
    ]
