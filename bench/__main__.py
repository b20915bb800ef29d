"""``python -m bench``: run the benchmarks, print a Markdown table, save it.

A full run writes ``bench/RESULTS.md``; ``--quick`` (a reduced set, under a minute) and
``--only`` never do, unless ``--output`` names a file. A benchmark that cannot measure
(a failing child, wrong text) makes the exit code 1; a missed target does not (CI runs
``--quick`` to keep the benchmarks alive, never to judge their numbers).
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from . import (
    anthropic_bench,
    core,
    gateway_bench,
    gemini_bench,
    llm_bridge,
    scale_bench,
    startup,
    streams,
    tools_bench,
)
from .config import FULL, QUICK, Config
from .measure import machine
from .report import Row, render, write_results

BENCHMARKS: dict[str, Callable[[Config], list[Row]]] = {
    "import": startup.bench_import,
    "cli": startup.bench_cli,
    "plugins": startup.bench_many_plugins,
    "config": startup.bench_config,
    "route": core.bench_route,
    "overhead": core.bench_overhead,
    "stream": streams.bench_stream,
    "memory": streams.bench_memory,
    "concurrency": streams.bench_concurrency,
    "tools": tools_bench.bench_tool_call,
    "gateway": gateway_bench.bench_gateway,
    "llm": llm_bridge.bench_llm_bridge,
    "anthropic": anthropic_bench.bench_anthropic,
    "gemini": gemini_bench.bench_gemini,
    "scale": scale_bench.bench_scale,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run provider-core's benchmarks, print a Markdown table; a full run saves it to "
        "bench/RESULTS.md. Method: docs/benchmarks.md. Peers (llm, litellm) are compared when "
        "`make bench-peers` has made .bench-peers-venv (or BENCH_PEERS_VENV names one).",
        epilog=f"benchmarks: {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--quick", action="store_true", help="a reduced set, under a minute; never saved")
    parser.add_argument(
        "--only", metavar="NAME", action="append", choices=list(BENCHMARKS), help="run only these (repeatable)"
    )
    parser.add_argument(
        "--output", type=Path, metavar="FILE", help="also write the report here (a full run writes bench/RESULTS.md)"
    )
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    names = args.only or list(BENCHMARKS)
    info = machine()
    started = time.monotonic()
    rows: list[Row] = []
    failed = []
    for name in names:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        try:
            rows += BENCHMARKS[name](cfg)
        except Exception as exc:
            failed.append(name)
            traceback.print_exc()
            rows.append(Row(name, "-", "-", "-", None, [f"could not measure: {type(exc).__name__}: {exc}"]))
        print(f"[bench] {name} done in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
    body = render(rows, info, mode=cfg.name, elapsed=time.monotonic() - started)
    print(body)
    if args.output:
        args.output.write_text(body, encoding="utf-8")
    if cfg is FULL and args.only is None and not failed:
        print(f"[bench] wrote {write_results(body)}", file=sys.stderr)
    elif cfg is FULL and args.only is None:
        print("[bench] not writing bench/RESULTS.md: some benchmarks failed", file=sys.stderr)
    if failed:
        print(f"[bench] could not measure: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
