"""Work the streaming benchmarks run in a process of its own, so that its peak memory is
its own: ``python -m bench.child memory BASE_URL`` or ``... threads BASE_URL N ROUNDS``.

Each streams through ``provider_core.create_completion(..., provider="Aivvm")`` (the whole
library: validation, the fallback wrapper, the provider, transport and decoder), counts
the characters it received and prints one JSON object.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
import warnings
from typing import Any

MESSAGES = [{"role": "user", "content": "Stream me a long reply."}]


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def _stream(base_url: str) -> int:
    import provider_core

    chars = 0
    for chunk in provider_core.create_completion("gpt-4", MESSAGES, provider="Aivvm", base_url=base_url):
        chars += len(chunk)
    return chars


def memory(base_url: str) -> dict[str, Any]:
    warnings.simplefilter("ignore")  # Aivvm is marked not working: naming it warns
    import requests  # noqa: F401

    import provider_core  # noqa: F401 - everything imported before the baseline is read

    before = _status_kb("VmRSS")
    start = time.perf_counter()
    chars = _stream(base_url)
    return {
        "chars": chars,
        "seconds": time.perf_counter() - start,
        "rss_before_kb": before,
        "hwm_kb": _status_kb("VmHWM"),
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def _concurrent(base_url: str, count: int) -> tuple[list[Any], float]:
    """``count`` threads released together, each streaming one reply: (results, seconds)."""
    results: list[Any] = [None] * count
    barrier = threading.Barrier(count + 1)

    def work(i: int) -> None:
        barrier.wait(timeout=60)
        try:
            results[i] = _stream(base_url)
        except Exception as exc:
            results[i] = f"{type(exc).__name__}: {exc}"

    workers = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for w in workers:
        w.start()
    barrier.wait(timeout=60)
    start = time.perf_counter()
    for w in workers:
        w.join(timeout=600)
    return results, time.perf_counter() - start


def threads(base_url: str, count: int, rounds: int) -> dict[str, Any]:
    """Rounds of ``count`` concurrent streams and, alternating with them, the same
    requests one after another in one thread (what the threads are compared with)."""
    warnings.simplefilter("ignore")
    _stream(base_url)  # imports, the registry, the session: what a first request pays, untimed
    out: dict[str, Any] = {"chars": [], "errors": [], "seconds": [], "sequential_seconds": []}

    def concurrent() -> None:
        results, seconds = _concurrent(base_url, count)
        out["chars"] += [r for r in results if isinstance(r, int)]
        out["errors"] += [str(r) for r in results if not isinstance(r, int)]
        out["seconds"].append(seconds)

    def sequential() -> None:
        start = time.perf_counter()
        out["chars"] += [_stream(base_url) for _ in range(count)]
        out["sequential_seconds"].append(time.perf_counter() - start)

    for r in range(rounds):
        for step in (concurrent, sequential) if r % 2 == 0 else (sequential, concurrent):
            step()
    out["hwm_kb"] = _status_kb("VmHWM")
    return out


def main(argv: list[str]) -> None:
    kind, base_url, *rest = argv
    out = memory(base_url) if kind == "memory" else threads(base_url, int(rest[0]), int(rest[1]))
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
