"""Timing helpers shared by every benchmark: alternating sides, medians, child processes.

Two rules hold everywhere. A comparison is measured in one run with its sides alternating
(A B, then B A, ...) so that the noise of a shared machine falls on both alike; and a
figure is the median of several runs, a ratio the median of the per-round ratios.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BenchError",
    "Samples",
    "alternate",
    "child_env",
    "machine",
    "median",
    "paired",
    "run_process",
]

REPO = Path(__file__).resolve().parent.parent
#: Longest any one child process may take (a hung child fails the benchmark, never blocks it).
CHILD_TIMEOUT = 600.0


class BenchError(RuntimeError):
    """A benchmark could not measure what it set out to (wrong output, failed child, ...)."""


def median(values: Sequence[float]) -> float:
    if not values:
        raise BenchError("no samples")
    return statistics.median(values)


@dataclass
class Samples:
    """The values of each side of one comparison, in round order; ``cpu`` holds the CPU
    seconds of the sides that report them too."""

    sides: dict[str, list[float]]
    cpu: dict[str, list[float]] = field(default_factory=dict)

    def median(self, side: str) -> float:
        return median(self.sides[side])

    def cpu_median(self, side: str) -> float:
        return median(self.cpu[side])

    def cpu_ratio(self, a: str, b: str) -> float:
        return paired(self.cpu[a], self.cpu[b], lambda x, y: x / y)

    def cpu_difference(self, a: str, b: str) -> float:
        return paired(self.cpu[a], self.cpu[b], lambda x, y: x - y)

    def ratio(self, a: str, b: str) -> float:
        """Median over rounds of a/b (each round's two values were taken back to back)."""
        return paired(self.sides[a], self.sides[b], lambda x, y: x / y)

    def difference(self, a: str, b: str) -> float:
        """Median over rounds of a - b."""
        return paired(self.sides[a], self.sides[b], lambda x, y: x - y)


def paired(a: Sequence[float], b: Sequence[float], op: Callable[[float, float], float]) -> float:
    return median([op(x, y) for x, y in zip(a, b, strict=True)])


def alternate(sides: Mapping[str, Callable[[], Any]], rounds: int, warmup: int = 1) -> Samples:
    """Call each side once per round, reversing the order every other round.

    Each callable returns the value it measured (seconds, ...), or a pair (wall seconds,
    CPU seconds). ``warmup`` untimed rounds come first (caches, .pyc files, pools).
    """
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            sides[name]()
    out = Samples({name: [] for name in names})
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            value = sides[name]()
            if isinstance(value, tuple):
                value, cpu = value
                out.cpu.setdefault(name, []).append(cpu)
            out.sides[name].append(value)
    return out


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for child interpreters: ours, less what changes how Python or the
    registry starts (PYTHON*, PROVIDER_CORE_*), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PROVIDER_CORE_"))}
    env.update(extra or {})
    return env


def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    check_output: Callable[[bytes], bool] | None = None,
) -> float:
    """Run ``argv`` to completion and return its wall time in seconds.

    A non-zero exit (or output that ``check_output`` rejects) raises :class:`BenchError`
    with the end of its stderr: a benchmark of a failing command measures nothing.
    """
    start = time.perf_counter_ns()
    proc = subprocess.run(
        list(argv),
        env=dict(env) if env is not None else child_env(),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if check_output else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    elapsed = (time.perf_counter_ns() - start) / 1e9
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise BenchError(f"{' '.join(argv)} exited {proc.returncode}: {' | '.join(tail)}")
    if check_output is not None and not check_output(proc.stdout):
        raise BenchError(f"{' '.join(argv)} printed something unexpected: {proc.stdout[:200]!r}")
    return elapsed


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    try:
        load = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        load = "n/a"
    try:
        head = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, timeout=10, check=True
        ).stdout.decode()
    except (OSError, subprocess.SubprocessError):
        head = ""
    return {
        "commit": head.strip() or "unknown",
        "cpus": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()),
        "cpu": _cpu_model(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "system": f"{platform.system()} {platform.release()}",
        "load": load,
        "executable": sys.executable,
    }
