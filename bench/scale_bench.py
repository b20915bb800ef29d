"""Scale-out on loopback: a redis-server, two ``provider-core serve --workers 2`` instances
sharing it, an upstream, and the load generator (:mod:`bench.loadgen`) in a process of its
own. Rows: the global rate limit's error against its setting, the time a circuit opened
through one instance takes to be refused by the other (against the sync interval), failed
requests across a Redis restart under load, lost streams across a SIGTERM to one instance
during ten streams, and throughput at 64 streams with two workers against one.

Self-contained: ``python -m bench.scale_bench [--quick]``; :func:`bench_scale` gives the
rows to ``python -m bench``. Method: docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .config import FULL, Config
from .deploy import loadgen, openai_upstream, redis_exe, redis_server, run_alone, serve, stop
from .measure import BenchError
from .report import Row

__all__ = ["bench_scale"]

LIMITED, FREE = "sk-bench-limited-0123456789", "sk-bench-free-0123456789"
#: The limited key's requests per minute (10 a second).
RPM = 600
#: The Aivvm models, one circuit each: a round of the circuit row opens one of them.
MODELS = ("gpt-3.5-turbo", "gpt-3.5-turbo-0613", "gpt-3.5-turbo-16k", "gpt-4-0613", "gpt-4-32k")
#: The breaker's sync interval (PROVIDER_CORE_BREAKER_SYNC), its default.
SYNC = 1.0
STREAMS = 10
PROMPT = "Stream this reply back to me, eight bytes per chunk, please. "
FIGURES = (
    "scale: global rate limit, 2 instances x 2 workers",
    "scale: circuit opened through one instance, refused by the other",
    "scale: Redis stopped and started again under load",
    "scale: SIGTERM to one instance during 10 streams",
    "scale: throughput at 64 streams, 2 workers vs 1",
)


def _chat(port: int, model: str = "gpt-4", key: str = FREE, stream: bool = False) -> tuple[int, bytes]:
    """One request on a connection of its own (any worker may answer it)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream})
    try:
        conn.request(
            "POST",
            "/v1/chat/completions",
            body=body,
            headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@contextlib.contextmanager
def _deployment(exe: str) -> Iterator[tuple[Any, Any, int, int, Any]]:
    """(redis, upstream, port A, port B, process A): an in-process Aivvm upstream (scripted
    failures and held replies) and two instances of two workers sharing a Redis."""
    from provider_aivvm.server import AivvmServer

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp, redis_server(exe) as redis:
        keys = Path(tmp) / "keys.json"
        entries = [{"key": LIMITED, "id": "limited", "rpm": RPM}, {"key": FREE, "id": "free", "rpm": 10_000_000}]
        keys.write_text(json.dumps({"keys": entries}), encoding="utf-8")
        with AivvmServer(chunk_size=8) as upstream:
            env = {
                "AIVVM_BASE_URL": upstream.url,
                "PROVIDER_CORE_PLUGINS": "aivvm",
                "PROVIDER_CORE_REDIS_URL": redis.url,
                "PROVIDER_CORE_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
                "PROVIDER_CORE_API_KEYS_FILE": str(keys),
            }
            args = ("--include-not-working", "--workers", "2", "--graceful-timeout", "60", "--metrics")
            with serve(env, *args) as (a, proc_a), serve(env, *args) as (b, _):
                for port in (a, b):
                    _warm(port)
                yield redis, upstream, a, b, proc_a


def _warm(port: int, connections: int = 16) -> None:
    """``/readyz`` on ``connections`` new connections: the workers that take them load their
    registry and shared state (a worker does on its first chat or readiness probe), so that
    no row times a cold start. Which worker accepts is the kernel's choice: 16 tries leave
    one of two workers unvisited with odds of 1 in 32,768 if it picks at random."""
    for _ in range(connections):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request("GET", "/readyz")
            status = conn.getresponse().status
        finally:
            conn.close()
        if status != 200:
            raise BenchError(f"/readyz on port {port} answered {status}")


def _rate_limit(a: int, b: int, cfg: Config) -> Row:
    urls = [f"http://127.0.0.1:{a}", f"http://127.0.0.1:{b}"]
    common = {"model": "gpt-4", "prompt": PROMPT, "key": LIMITED, "streams": 8}
    drained = loadgen(urls, requests=RPM + 100, **common)  # the burst: the bucket ends empty
    if not drained["failures"].get("status 429"):
        raise BenchError(f"the burst of {RPM + 100} requests was never refused: {drained}")
    seconds = 10 if cfg is FULL else 3
    offered = 2 * RPM / 60
    got = loadgen(urls, requests=int(offered * seconds), rate=offered, **common)
    other = {k: v for k, v in got["failures"].items() if k != "status 429"}
    if other:
        raise BenchError(f"requests failed other than by the limit: {other}")
    expected = RPM / 60 * got["seconds"]
    error = got["ok"] / expected - 1
    return Row(
        FIGURES[0],
        f"**{error:+.1%}**: {got['ok']} admitted of {got['requests']} offered in {got['seconds']:.1f} s "
        f"against {expected:.1f} allowed",
        f"the setting: {RPM} requests per minute for one key",
        "within +-5% of the setting",
        abs(error) <= 0.05,
        [
            f"the key's burst ({RPM}) spent first, then {offered:.0f} requests/s offered for {seconds} s over both "
            "instances (8 kept-alive connections): the 200s counted across the four worker processes against "
            "the setting's refill over the same time."
        ],
    )


def _circuit_open(port: int, model: str) -> bool:
    """Whether the worker answering a scrape of ``/metrics`` sees ``model``'s circuit open."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", "/metrics", headers={"authorization": f"Bearer {FREE}"})
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    return any(
        line.startswith("provider_core_circuit_state{") and f'model="{model}"' in line and line.endswith(" 2.0")
        for line in text.splitlines()
    )


def _circuit(upstream: Any, a: int, b: int, cfg: Config) -> Row:
    first, every = [], []
    for model in MODELS[: 3 if cfg is FULL else 1]:
        upstream.clear()
        for _ in range(3):
            upstream.script(status=503)
            status, _ = _chat(a, model)
            if status < 500:
                raise BenchError(f"a scripted upstream failure answered {status}")
        opened = time.perf_counter()
        deadline, streak = opened + 30 * SYNC, 0
        while streak < 8:  # eight scrapes in a row (new connections: either worker) see it open
            streak = streak + 1 if _circuit_open(b, model) else 0
            if streak == 1 and len(first) < len(every) + 1:
                first.append(time.perf_counter() - opened)
            if time.perf_counter() > deadline:
                raise BenchError(f"the other instance never saw the circuit of {model} open")
            time.sleep(0.005)
        every.append(time.perf_counter() - opened)
        del first[len(every) :]
        upstream.clear()
    return Row(
        FIGURES[1],
        f"**{statistics.median(first) * 1e3:,.0f} ms** median ({max(first) * 1e3:,.0f} ms at most); by both of its "
        f"workers {statistics.median(every) * 1e3:,.0f} ms median ({max(every) * 1e3:,.0f} ms at most)",
        f"the sync interval: {SYNC * 1e3:,.0f} ms (PROVIDER_CORE_BREAKER_SYNC)",
        "within the sync interval (+10%: the scrapes take time too)",
        max(every) <= SYNC * 1.1,
        [
            f"{len(every)} round(s), a model each: three upstream 503s through one instance open its circuit in "
            "Redis; the other instance's /metrics is scraped every 5 ms (a new connection each, either worker) "
            "until it shows the circuit open, then until eight scrapes in a row do. The other instance calls no "
            "upstream meanwhile (a request of its own that failed would tell it at once, one that succeeded "
            "would close the circuit)."
        ],
    )


def _redis_restart(redis: Any, a: int, b: int, cfg: Config) -> Row:
    seconds = 12 if cfg is FULL else 6
    rate = 80
    urls = [f"http://127.0.0.1:{a}", f"http://127.0.0.1:{b}"]
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["got"] = loadgen(
                urls, model="gpt-4", prompt=PROMPT, key=FREE, streams=8, requests=rate * seconds, rate=rate
            )
        except BaseException as exc:
            out["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(seconds / 4)
    redis.kill()
    down = time.perf_counter()
    time.sleep(seconds / 4)
    redis.start()
    down = time.perf_counter() - down
    worker.join(timeout=600)
    if "error" in out or "got" not in out:
        raise BenchError(f"the load failed: {out.get('error')}")
    got = out["got"]
    failed = got["requests"] - got["ok"]
    return Row(
        FIGURES[2],
        f"**{failed} failed** of {got['requests']} streamed requests (Redis down {down:.1f} s of {got['seconds']:.1f})",
        "rate limits and circuits in Redis",
        "0 failed",
        failed == 0,
        [
            f"{rate} requests/s over both instances; redis-server killed (SIGKILL) a quarter in and started again "
            "on its port a quarter later: each worker falls back to its own limits and circuits, then returns. "
            f"Failures: {got['failures'] or 'none'}."
        ],
    )


def _sigterm(upstream: Any, proc_a: Any, a: int, b: int) -> Row:
    gate = threading.Event()
    upstream.clear()
    for _ in range(STREAMS):
        upstream.script(PROMPT, hold=gate, hold_timeout=120)
    started = threading.Semaphore(0)
    ended: list[bool] = []

    def one(port: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        body = json.dumps({"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}], "stream": True})
        try:
            conn.request(
                "POST",
                "/v1/chat/completions",
                body=body,
                headers={"authorization": f"Bearer {FREE}", "content-type": "application/json"},
            )
            response = conn.getresponse()
            started.release()  # the status came with the first chunk: the stream is under way
            lines = [line.strip() for line in response.read().split(b"\n") if line.strip()]
            ended.append(lines[-1:] == [b"data: [DONE]"] and not any(b'"error"' in line for line in lines))
        except OSError:
            started.release()
            ended.append(False)
        finally:
            conn.close()

    threads = [threading.Thread(target=one, args=((a, b)[i % 2],)) for i in range(STREAMS)]
    for thread in threads:
        thread.start()
    for _ in threads:
        if not started.acquire(timeout=60):
            gate.set()
            raise BenchError("the streams did not start")
    stop_at = time.perf_counter()
    codes: list[int] = []
    stopper = threading.Thread(target=lambda: codes.append(stop(proc_a, signal.SIGTERM)))
    stopper.start()
    time.sleep(1.0)  # the instance stops accepting, its streams go on
    during = _chat(b)[0]
    gate.set()
    for thread in [*threads, stopper]:
        thread.join(timeout=120)
    stopped = time.perf_counter() - stop_at
    exit_ok = codes == [0]
    lost = STREAMS - sum(ended)
    return Row(
        FIGURES[3],
        f"**{lost} lost** of {STREAMS}; the instance exited {'0' if exit_ok else 'non-zero'} "
        f"{stopped:.1f} s after SIGTERM; the other answered {during} meanwhile",
        "",
        "0 lost",
        lost == 0 and during == 200 and exit_ok,
        [
            f"{STREAMS} streams over both instances, held at the upstream until 1 s after SIGTERM to one of them "
            "(--graceful-timeout 60): every stream must end with data: [DONE] and no error event."
        ],
    )


def _throughput(cfg: Config) -> Row:
    rounds = 3 if cfg is FULL else 1
    total = 64 * (20 if cfg is FULL else 5)
    with openai_upstream(10) as base:
        env = {"OPENAI_BASE_URL": base, "OPENAI_API_KEY": "sk-bench", "PROVIDER_CORE_PLUGINS": "openai"}
        with serve(env, "--workers", "1") as (one, _), serve(env, "--workers", "2") as (two, _):
            sides = {"1 worker": one, "2 workers": two}
            got: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
            options = {"model": "bench-echo", "prompt": PROMPT, "streams": 64}
            for port in sides.values():
                loadgen([f"http://127.0.0.1:{port}"], requests=128, **options)  # warm-up
            for r in range(rounds):
                for name in sides if r % 2 == 0 else list(reversed(sides)):
                    result = loadgen([f"http://127.0.0.1:{sides[name]}"], requests=total, **options)
                    if result["failures"]:
                        raise BenchError(f"{name}: failures {result['failures']}")
                    got[name].append(result)
    rps = {name: statistics.median(r["rps"] for r in got[name]) for name in sides}
    p50 = {name: statistics.median(r["ttft_p50"] for r in got[name]) * 1e3 for name in sides}
    p90 = {name: statistics.median(r["ttft_p90"] for r in got[name]) * 1e3 for name in sides}
    ratio = statistics.median(x["rps"] / y["rps"] for x, y in zip(got["2 workers"], got["1 worker"], strict=True))
    return Row(
        FIGURES[4],
        f"**{ratio:.2f}x**: {rps['2 workers']:,.0f} vs {rps['1 worker']:,.0f} req/s; time to first token "
        f"{p50['2 workers']:.0f} ms median, {p90['2 workers']:.0f} ms p90 (1 worker: {p50['1 worker']:.0f} / "
        f"{p90['1 worker']:.0f} ms)",
        "the same instance with --workers 1",
        "reported",
        None,
        [
            f"{total} streamed replies per round at 64 concurrent streams, {rounds} alternating round(s); the "
            "upstream (bench.server, an OpenAI stream of 9 events 10 ms apart), the load generator and the "
            "gateway share this machine's cores, so two workers gain what the other processes leave them."
        ],
    )


def bench_scale(cfg: Config) -> list[Row]:
    exe = redis_exe()
    missing = []
    for name in ("provider_aivvm", "provider_openai", "starlette", "uvicorn", "prometheus_client"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if exe is None or missing:
        why = f"{', '.join(missing)} not installed" if missing else "redis-server or redis-py is not installed"
        return [Row(figure, "-", "-", "reported", None, [f"skipped: {why}."]) for figure in FIGURES]
    rows = []
    with _deployment(exe) as (redis, upstream, a, b, proc_a):
        rows.append(_rate_limit(a, b, cfg))
        rows.append(_circuit(upstream, a, b, cfg))
        rows.append(_redis_restart(redis, a, b, cfg))
        rows.append(_sigterm(upstream, proc_a, a, b))
    rows.append(_throughput(cfg))
    return rows


def main(argv: list[str] | None = None) -> int:
    return run_alone(bench_scale, argv)


if __name__ == "__main__":
    sys.exit(main())
