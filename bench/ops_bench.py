"""What the gateway's operations features cost per request: ``python -m bench.ops_bench``.

One gateway app over an in-process provider (8 chunks of 8 characters, no network
upstream), served by uvicorn on loopback in a child process's thread, driven by one
kept-alive ``http.client`` connection in the same child (a lean client): sequential
requests, streamed and not. Each configuration has a child process of its own, kept up for
the whole run; the children time small batches in turn (so that the shared machine's noise
hits every configuration alike), and each figure is the median of the batch medians.
Configurations:

* ``off``: the defaults (no rate limits, metrics or tracing; keep-alive comments every 15 s);
* ``no-keepalive``: the defaults with ``PROVIDER_CORE_SSE_KEEPALIVE=0`` (the status waits
  for the first chunk without a timer: the stream path as it was before keep-alives);
* ``on``: rate limits (in the process), metrics and tracing (the SDK, spans batched to an
  exporter that drops them) all on;
* ``redis``: ``on`` with the rate limits in Redis (a redis-server started for the run, when
  one is installed);
* ``base``: ``--base PATH`` names another checkout (e.g. the main branch) whose
  ``provider_core`` is imported instead, with its defaults: the same path before this work.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

CHUNKS = [f"chunk-{i:02d}"[:8] for i in range(8)]
BODY = {"model": "bench-1", "messages": [{"role": "user", "content": "measure me"}]}


def _child(config: str, stream: bool) -> dict[str, float]:
    """Run in the child: serve, then time the batches of sequential requests asked on stdin."""
    import uvicorn

    from provider_core import AbstractProvider
    from provider_core.gateway.app import create_app
    from provider_core.gateway.config import GatewayConfig
    from provider_core.registry import Registry

    class Bench(AbstractProvider):
        url = "http://127.0.0.1/in-process"
        working = True
        supports_stream = True
        models = {"bench-1": "Bench"}  # noqa: RUF012

        @classmethod
        def create_completion(cls, model, messages, stream, **kwargs):
            yield from CHUNKS

    if config in ("on", "redis"):
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

        class Drop(SpanExporter):
            def export(self, spans: Any) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(Drop()))
        trace.set_tracer_provider(provider)
    registry = Registry(load_entry_points=False)
    registry.register(Bench)
    if config == "base":
        gateway_config = GatewayConfig()
    else:
        env = {"PROVIDER_CORE_SSE_KEEPALIVE": "0"} if config == "no-keepalive" else {}
        if config in ("on", "redis"):
            env.update(
                PROVIDER_CORE_METRICS="1",
                PROVIDER_CORE_TRACING="on",
                PROVIDER_CORE_RATE_LIMIT_RPM="1000000000",
                PROVIDER_CORE_RATE_LIMIT_TPM="1000000000",
            )
        gateway_config = GatewayConfig.from_env(env)
    app = create_app(registry, gateway_config)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    conn = http.client.HTTPConnection("127.0.0.1", port)
    payload = json.dumps({**BODY, "stream": stream}).encode()

    def one() -> None:
        conn.request("POST", "/v1/chat/completions", payload, {"content-type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        assert response.status == 200 and b"chunk-07" in data, data[:200]

    for _ in range(200):  # warm-up: the registry, the first requests
        one()
    print("ready", flush=True)
    for line in sys.stdin:  # "N": time N requests, answer the median in microseconds
        times = []
        for _ in range(int(line)):
            started = time.perf_counter()
            one()
            times.append(time.perf_counter() - started)
        print(json.dumps(statistics.median(times) * 1e6), flush=True)
    server.should_exit = True
    thread.join(10)
    return {}


class _Child:
    """One configuration's server and client, in a process of its own, timing batches."""

    def __init__(self, config: str, stream: bool, base: str | None, redis_url: str | None) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROVIDER_CORE_")}
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = base if config == "base" and base else here
        if config == "redis" and redis_url:
            env["PROVIDER_CORE_REDIS_URL"] = redis_url
        # the file itself, not -m: no checkout's source tree is put first on sys.path but PYTHONPATH's
        cmd = [sys.executable, os.path.abspath(__file__), "--child", config] + (["--stream"] if stream else [])
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=here)
        assert self.proc.stdout is not None and self.proc.stdin is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{config}: the child did not start")

    def batch(self, requests: int) -> float:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{requests}\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(30)


def _redis() -> tuple[Any, str | None]:
    exe = shutil.which("redis-server")
    if exe is None:
        return None, None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", ""], stdout=subprocess.DEVNULL)
    for _ in range(500):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.01)
    proc.kill()
    return None, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ops_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per batch (default 200)")
    parser.add_argument(
        "--rounds", type=int, default=40, help="batches of each configuration, alternating (default 40)"
    )
    parser.add_argument("--base", metavar="PATH", help="another checkout to compare with (its provider_core)")
    parser.add_argument("--configs", help="a comma-separated subset of: off, no-keepalive, on, base, redis")
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.stream)
        return 0
    configs = ["off", "no-keepalive", "on"] + (["base"] if args.base else [])
    redis_proc, redis_url = _redis()
    if redis_url:
        configs.append("redis")
    if args.configs:
        configs = [c for c in configs if c in args.configs.split(",")]
    try:
        for stream in (True, False):
            figures: dict[str, list[float]] = {c: [] for c in configs}
            children = {c: _Child(c, stream, args.base, redis_url) for c in configs}
            try:
                for _ in range(args.rounds):  # small batches, alternating: the machine's noise hits all alike
                    for config in configs:
                        figures[config].append(children[config].batch(args.requests))
            finally:
                for child in children.values():
                    child.close()
            reference = statistics.median(figures["off"])
            what = "streamed" if stream else "not streamed"
            print(f"{what}: median of {args.rounds} batch medians ({args.requests} sequential requests each)")
            for config in configs:
                median = statistics.median(figures[config])
                spread = f"{min(figures[config]):.0f}-{max(figures[config]):.0f}"
                print(f"  {config:13} {median:8.1f} us  ({median - reference:+7.1f} us vs off; batches {spread})")
    finally:
        if redis_proc is not None:
            redis_proc.kill()
            redis_proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
