"""The gateway's overhead: requests per second and time to first token through
``provider-core serve`` versus calling the provider in-process, at 1, 16 and 64 concurrent
streams, with the same upstream (the Aivvm loopback server, in its own process).

Each row gives the median time to first token and, since at 16 and 64 streams the CPU is
saturated and a scheduler can favour first chunks or whole replies, the median time to the
whole reply too. In-process: ``provider_core.create_completion`` in N threads of this process. Through the
gateway: N threads of this process, each with a kept-alive ``http.client`` connection (a
lean client, so that its own cost does not pass for the gateway's), streaming SSE from a
``provider-core serve`` process. Every reply is checked to the character. The two sides
alternate, round by round. Each row gives the 90th percentile of the time to first token too.
Then the rows of :mod:`bench.proxy_bench`: the gateway as a proxy against the LiteLLM
proxy, with the same upstream and load generator. Self-contained: ``python -m
bench.gateway_bench [--quick]`` prints the rows; :func:`bench_gateway` gives them to
``python -m bench``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

from provider_core.testing.server import free_port

from .config import FULL, QUICK, Config
from .measure import REPO, BenchError, child_env
from .proxy_bench import proxy_rows
from .report import Row

__all__ = ["LEVELS", "bench_gateway"]

LEVELS = (1, 16, 64)
#: The paced row: this many streams, requests started at this fixed rate (below what both
#: sides can serve here), so that time to first token is not a queue of the bench's making.
PACED_STREAMS, PACED_RATE = 64, 200
MODEL = "gpt-4"
#: The upstream echoes it back in 8-byte chunks (8 of them, token-sized).
PROMPT = "Stream this reply back to me, eight bytes per chunk, please. "
CHUNK = 8


def _requests_per_level(cfg: Config, n: int) -> int:
    return max(40, 4 * n) if cfg.name == "quick" else max(200, 16 * n)


def _rounds(cfg: Config) -> int:
    return 1 if cfg.name == "quick" else 3


@contextlib.contextmanager
def _process(argv: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def _upstream() -> Iterator[str]:
    argv = [sys.executable, "-m", "provider_aivvm.server", "--port", "0", "--chunk-size", str(CHUNK)]
    with _process(argv, child_env()) as proc:
        line = proc.stdout.readline() if proc.stdout else ""
        found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if not found:
            raise BenchError(f"the Aivvm loopback server did not start (printed {line!r})")
        yield found.group(1)


@contextlib.contextmanager
def _gateway(upstream: str) -> Iterator[int]:
    port = free_port()
    argv = [sys.executable, "-m", "provider_core", "serve", "--port", str(port), "--include-not-working"]
    argv += ["--no-access-log", "--log-level", "warning"]
    env = child_env({"AIVVM_BASE_URL": upstream, "PROVIDER_CORE_PLUGINS": "aivvm"})
    with _process(argv, env) as proc:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
                raise BenchError(f"provider-core serve did not start: {err[-800:]}")
            time.sleep(0.05)
        yield port


def _in_process(upstream: str) -> Callable[[], tuple[float, float, str]]:
    import provider_core

    def one() -> tuple[float, float, str]:
        start = time.perf_counter()
        first = 0.0
        parts = []
        completion = provider_core.create_completion(
            MODEL, [{"role": "user", "content": PROMPT}], include_not_working=True, base_url=upstream
        )
        for chunk in completion:
            if not first:
                first = time.perf_counter() - start
            parts.append(chunk)
        return first, time.perf_counter() - start, "".join(parts)

    return one


def _through_gateway(port: int) -> Callable[[], tuple[float, float, str]]:
    local = threading.local()
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "stream": True})

    def one() -> tuple[float, float, str]:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body=body, headers={"content-type": "application/json"})
        response = conn.getresponse()
        if response.status != 200:
            raise BenchError(f"the gateway answered {response.status}: {response.read()[:300]!r}")
        first = 0.0
        parts = []
        for line in response:
            if not line.startswith(b"data: "):
                continue
            if line.startswith(b"data: [DONE]"):
                break
            delta = json.loads(line[6:])["choices"][0]["delta"]
            if delta.get("content"):
                if not first:
                    first = time.perf_counter() - start
                parts.append(delta["content"])
        response.read()  # the end of the chunked body: the connection stays reusable
        return first, time.perf_counter() - start, "".join(parts)

    return one


def _run(
    one: Callable[[], tuple[float, float, str]], n: int, total: int, rate: float | None = None
) -> tuple[float, float, float, float]:
    """``total`` requests by ``n`` threads, each starting the next as soon as one ends, or
    at ``rate`` requests per second in all; returns (requests per second, median TTFT,
    median time to the whole reply, 90th percentile TTFT)."""
    start = time.perf_counter()

    def worker(i: int, count: int) -> list[tuple[float, float]]:
        times = []
        for k in range(count):
            if rate:
                time.sleep(max(0.0, start + (k * n + i) / rate - time.perf_counter()))
            first, whole, text = one()
            if text != PROMPT:
                raise BenchError(f"wrong reply: {text[:60]!r}... ({len(text)} characters)")
            times.append((first, whole))
        return times

    shares = [total // n + (1 if i < total % n else 0) for i in range(n)]
    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(worker, range(n), shares))
    elapsed = time.perf_counter() - start
    times = [t for r in results for t in r]
    firsts = sorted(t[0] for t in times)
    p90 = firsts[int(0.9 * (len(firsts) - 1))]
    return total / elapsed, statistics.median(firsts), statistics.median(t[1] for t in times), p90


def _skipped(why: str) -> list[Row]:
    figures = [f"gateway, {n} concurrent streams" for n in LEVELS]
    figures.append(f"gateway, {PACED_STREAMS} streams paced at {PACED_RATE} req/s")
    figures += [f"gateway as a proxy, {n} concurrent stream{'s' if n > 1 else ''} (1 worker)" for n in LEVELS]
    figures.append("gateway throughput from 16 to 64 streams (1 worker)")
    return [Row(figure, "-", "-", "reported", None, [f"skipped: {why}."]) for figure in figures]


def bench_gateway(cfg: Config) -> list[Row]:
    try:
        import provider_aivvm  # noqa: F401
        import provider_openai  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        return _skipped(
            f"{exc.name} is not installed (needs provider-core[server], provider-core-aivvm and provider-core-openai)"
        )
    rows = []
    with _upstream() as upstream, _gateway(upstream) as port, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sides = {"in-process": _in_process(upstream), "gateway": _through_gateway(port)}
        for side in sides.values():  # warm up: connections, imports, caches
            _run(side, 4, 8)
        for n in LEVELS:
            total = _requests_per_level(cfg, n)
            got: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in sides}
            for r in range(_rounds(cfg)):
                for name in sides if r % 2 == 0 else reversed(list(sides)):
                    got[name].append(_run(sides[name], n, total))
            rps = {name: statistics.median(v[0] for v in got[name]) for name in sides}
            ttft = {name: statistics.median(v[1] for v in got[name]) for name in sides}
            whole = {name: statistics.median(v[2] for v in got[name]) for name in sides}
            p90 = {name: statistics.median(v[3] for v in got[name]) for name in sides}
            rows.append(
                Row(
                    f"gateway, {n} concurrent stream{'s' if n > 1 else ''}",
                    f"**{rps['gateway']:,.0f} req/s** ({rps['gateway'] / rps['in-process']:.2f}x); time to first "
                    f"token {ttft['gateway'] * 1e3:.2f} ms (+{(ttft['gateway'] - ttft['in-process']) * 1e3:.2f} ms), "
                    f"p90 {p90['gateway'] * 1e3:.2f} ms, whole reply {whole['gateway'] * 1e3:.2f} ms",
                    f"`provider_core.create_completion` in {n} thread{'s' if n > 1 else ''}: "
                    f"{rps['in-process']:,.0f} req/s, {ttft['in-process'] * 1e3:.2f} ms, "
                    f"p90 {p90['in-process'] * 1e3:.2f} ms, whole reply {whole['in-process'] * 1e3:.2f} ms",
                    "reported",
                    None,
                    [
                        f"{total} streamed replies of {len(PROMPT)} characters in {CHUNK}-byte upstream chunks per "
                        f"round, {_rounds(cfg)} alternating round(s); the client, the gateway and the upstream "
                        "share this machine's CPUs, so at 16 and 64 streams the figure is CPU-bound."
                    ],
                )
            )
        rows.append(_paced_row(cfg, sides))
    return rows + proxy_rows(cfg)


def _paced_row(cfg: Config, sides: dict[str, Callable[[], tuple[float, float, str]]]) -> Row:
    n, rate = PACED_STREAMS, PACED_RATE
    total = max(n, int(rate * (1 if cfg.name == "quick" else 3)))
    got: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in sides}
    for r in range(_rounds(cfg)):
        for name in sides if r % 2 == 0 else reversed(list(sides)):
            got[name].append(_run(sides[name], n, total, rate))
    p50 = {name: statistics.median(v[1] for v in got[name]) for name in sides}
    p90 = {name: statistics.median(v[3] for v in got[name]) for name in sides}
    rps = {name: statistics.median(v[0] for v in got[name]) for name in sides}
    return Row(
        f"gateway, {n} streams paced at {rate} req/s",
        f"time to first token **{p50['gateway'] * 1e3:.2f} ms** median "
        f"(+{(p50['gateway'] - p50['in-process']) * 1e3:.2f} ms), {p90['gateway'] * 1e3:.2f} ms at the 90th "
        f"percentile; {rps['gateway']:,.0f} req/s served",
        f"in-process: {p50['in-process'] * 1e3:.2f} ms median, {p90['in-process'] * 1e3:.2f} ms at the 90th percentile",
        "reported",
        None,
        [
            f"{total} streamed replies started at a fixed {rate} per second by {n} threads, {_rounds(cfg)} alternating "
            "round(s): the load stays under what both sides serve, so the time to first token is the gateway's own "
            "latency, not the queue a saturating bench builds (the rows above)."
        ],
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    cfg = QUICK if "--quick" in args else FULL
    os.environ.pop("PROVIDER_CORE_API_KEYS", None)
    for row in bench_gateway(cfg):
        print(f"{row.figure}: {row.result} | {row.baseline}")
        for note in row.notes:
            print(f"  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
