"""The gateway as a proxy under concurrency: ``provider-core serve`` (one worker) and, when
``make bench-peers`` installed it, the LiteLLM proxy (one worker) in front of the same
upstream, driven by the same load generator (:mod:`bench.loadgen`, a process of its own)
at 1, 16 and 64 concurrent streams; and whether the gateway's throughput holds from 16
streams to 64 with its time to first token bounded (p90 under twice the median).

The upstream is :mod:`bench.server`'s OpenAI echo stream, one event every
:data:`PACE_MS` ms (a model's token pace), so that 16 streams are bound by the upstream and
64 by the proxy's CPU. The sides alternate round by round. Part of the "gateway" rows of
``python -m bench`` (:func:`proxy_rows`); alone: ``python -m bench.proxy_bench [--quick]``.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .config import QUICK, Config
from .deploy import free_port, loadgen, openai_upstream, process, run_alone, serve, wait_healthy
from .measure import BenchError, child_env
from .report import Row

__all__ = ["LEVELS", "litellm_proxy", "proxy_rows"]

LEVELS = (1, 16, 64)
PACE_MS = 10
MODEL = "bench-echo"
PROMPT = "Stream this reply back to me, eight bytes per chunk, please. "


def _litellm_venv() -> Path | None:
    from .startup import peers_venv

    venv = peers_venv()
    return venv if venv is not None and (venv / "bin" / "litellm").exists() else None


@contextlib.contextmanager
def litellm_proxy(venv: Path, upstream: str) -> Iterator[str]:
    """``litellm --config`` (one worker) serving :data:`MODEL` from ``upstream`` (an OpenAI
    base URL); its URL once it answers its liveness probe. Its cost map is the local copy."""
    with tempfile.TemporaryDirectory(prefix="bench-litellm-") as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text(
            "model_list:\n"
            f"  - model_name: {MODEL}\n"
            "    litellm_params:\n"
            f"      model: openai/{MODEL}\n"
            f"      api_base: {upstream}\n"
            "      api_key: sk-bench\n",
            encoding="utf-8",
        )
        port = free_port()
        argv = [str(venv / "bin" / "litellm"), "--config", str(config), "--port", str(port), "--num_workers", "1"]
        # LiteLLM refuses to start without a master key (no key: every request accepted)
        env = child_env({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_MASTER_KEY": PEER_KEY})
        with (
            open(Path(tmp) / "litellm.log", "w+", encoding="utf-8") as log,
            process(argv, env, stdout=log, stderr=log) as proc,
        ):
            wait_healthy(port, proc, "/health/liveliness", log=log)
            yield f"http://127.0.0.1:{port}"


#: The LiteLLM proxy's master key, sent by the load generator to that side only.
PEER_KEY = "sk-bench-litellm-0123456789abcdef"
#: The bearer token each side is sent (the gateway runs without keys).
KEYS = {"litellm": PEER_KEY}


def _requests(cfg: Config, n: int) -> int:
    """Requests per round: 16 (quick: 4) per stream, at least 40 (a reply takes ~0.1 s)."""
    return max(40, 4 * n) if cfg is QUICK else max(40, 16 * n)


def _measure(sides: dict[str, str], cfg: Config) -> dict[int, dict[str, list[dict[str, Any]]]]:
    rounds = 1 if cfg is QUICK else 3
    for name, url in sides.items():  # warm up: connections, imports, caches
        loadgen([url], model=MODEL, prompt=PROMPT, streams=16, requests=64, key=KEYS.get(name))
    got: dict[int, dict[str, list[dict[str, Any]]]] = {n: {name: [] for name in sides} for n in LEVELS}
    for r in range(rounds):
        for n in LEVELS:
            for name in sides if r % 2 == 0 else list(reversed(sides)):
                result = loadgen(
                    [sides[name]], model=MODEL, prompt=PROMPT, streams=n, requests=_requests(cfg, n), key=KEYS.get(name)
                )
                if result["failures"]:
                    raise BenchError(f"{name} at {n} streams: failures {result['failures']}")
                got[n][name].append(result)
    return got


def _figures(results: list[dict[str, Any]]) -> tuple[float, float, float]:
    """Median over rounds of (requests per second, p50 and p90 time to first token in ms)."""
    rps = statistics.median(r["rps"] for r in results)
    p50 = statistics.median(r["ttft_p50"] for r in results) * 1e3
    p90 = statistics.median(r["ttft_p90"] for r in results) * 1e3
    return rps, p50, p90


def proxy_rows(cfg: Config) -> list[Row]:
    venv = _litellm_venv() if cfg is not QUICK else None
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(openai_upstream(PACE_MS))
        env = {"OPENAI_BASE_URL": upstream, "OPENAI_API_KEY": "sk-bench", "PROVIDER_CORE_PLUGINS": "openai"}
        port, _ = stack.enter_context(serve(env, "--workers", "1"))
        sides = {"gateway": f"http://127.0.0.1:{port}"}
        peer_failed = ""
        if venv is not None:
            try:
                sides["litellm"] = stack.enter_context(litellm_proxy(venv, upstream))
            except BenchError as exc:  # the peer's failure is not ours: our rows stand without it
                peer_failed = str(exc)[-300:]
        got = _measure(sides, cfg)
    rounds = len(got[LEVELS[0]]["gateway"])
    how = (
        f"{rounds} alternating round(s) of {{total}} streamed replies (an OpenAI echo stream, {PACE_MS} ms between "
        "events) by bench.loadgen in its own process, kept-alive connections; the upstream, the proxies and the "
        f"load generator share this machine's cores (load average {load:.2f} at the start)."
    )
    rows = []
    for n in LEVELS:
        rps, p50, p90 = _figures(got[n]["gateway"])
        result = f"**{rps:,.0f} req/s**; time to first token {p50:.1f} ms median, {p90:.1f} ms p90"
        baseline = "LiteLLM proxy: not run with --quick" if cfg is QUICK else ""
        if cfg is not QUICK and venv is None:
            baseline = "LiteLLM proxy: not installed (make bench-peers)"
        elif peer_failed:
            baseline = f"LiteLLM proxy: did not start ({peer_failed})"
        if "litellm" in got[n]:
            l_rps, l_p50, l_p90 = _figures(got[n]["litellm"])
            ratio = statistics.median(
                g["rps"] / lite["rps"] for g, lite in zip(got[n]["gateway"], got[n]["litellm"], strict=True)
            )
            result += f" ({ratio:.1f}x LiteLLM's requests per second)"
            baseline = f"LiteLLM proxy, 1 worker: {l_rps:,.0f} req/s, {l_p50:.1f} ms median, {l_p90:.1f} ms p90"
        rows.append(
            Row(
                f"gateway as a proxy, {n} concurrent stream{'s' if n > 1 else ''} (1 worker)",
                result,
                baseline,
                "reported",
                None,
                [how.format(total=_requests(cfg, n))],
            )
        )
    rps16, _, _ = _figures(got[16]["gateway"])
    rps64, p50, p90 = _figures(got[64]["gateway"])
    held = statistics.median(x["rps"] / y["rps"] for x, y in zip(got[64]["gateway"], got[16]["gateway"], strict=True))
    rows.append(
        Row(
            "gateway throughput from 16 to 64 streams (1 worker)",
            f"**{held:.2f}x**: {rps64:,.0f} vs {rps16:,.0f} req/s; at 64 streams p90 time to first token "
            f"{p90 / p50:.2f}x the median ({p90:.0f} / {p50:.0f} ms)",
            "the same gateway at 16 streams",
            ">= 1x the requests per second of 16 streams; p90 < 2x p50 at 64",
            held >= 1.0 and p90 < 2 * p50,
            [
                "16 streams are bound by the upstream's pace, 64 by the gateway's CPU (one worker process): the "
                "figure says whether more concurrency costs throughput or tail latency (issue #16, point 9)."
            ],
        )
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    return run_alone(proxy_rows, argv)


if __name__ == "__main__":
    sys.exit(main())
