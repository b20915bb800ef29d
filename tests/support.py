"""What the test packages share (importable as ``support``: ``tests/`` is on pytest's
``pythonpath``; the source tree is not): the fixture plugin distributions, a clean
environment for subprocesses, and the one runner of the real CLI."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "FIXTURE_DISTRIBUTIONS",
    "CLIResult",
    "Served",
    "clean_env",
    "install_fixture_plugins",
    "pip_install_target",
    "run_cli",
]

HERE = Path(__file__).resolve().parent
#: Every fixture plugin distribution (see tests/fixtures/plugins/README.md and
#: tests/reliability/fixtures/README.md), pip-installed together once per test session.
FIXTURE_DISTRIBUTIONS = (
    HERE / "fixtures" / "plugins" / "good",
    HERE / "fixtures" / "plugins" / "broken",
    HERE / "fixtures" / "plugins" / "dup_a",
    HERE / "fixtures" / "plugins" / "dup_b",
    HERE / "reliability" / "fixtures" / "misbehave",
    HERE / "reliability" / "fixtures" / "hostile",
)
#: A generous bound for one subprocess on a loaded 2-core machine (seconds), never a timing assertion.
SUBPROCESS_TIMEOUT = 120


def install_fixture_plugins(target: Path, build: Path) -> None:
    """pip-install every fixture distribution into ``target`` (a ``--target`` directory)."""
    pip_install_target(FIXTURE_DISTRIBUTIONS, target, build)


def pip_install_target(sources: Sequence[Path], target: Path, build: Path) -> None:
    """pip-install the distributions in the source directories ``sources`` into ``target``
    (a ``--target`` directory), building from copies in ``build`` so that the source tree
    gets no build/ or egg-info."""
    copies = []
    for source in sources:
        copy = build / f"{source.parent.name}-{source.name}"
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        copies.append(str(copy))
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
    cmd += ["--disable-pip-version-check", "--upgrade", "--target", str(target), *copies]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=build)
    if proc.returncode != 0:
        raise RuntimeError(
            f"pip install of {len(copies)} plugin(s) failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: the inherited one minus anything that selects
    plugins, configures provider-core or the fixture plugins, points at the source tree or
    at a proxy (the session's private cache directory stays); UTF-8 output; plus ``extra``."""
    keep = {"PROVIDER_CORE_CACHE_DIR"}  # the session's private cache (tests/conftest.py)
    env = {
        k: v
        for k, v in os.environ.items()
        if k in keep
        or (not k.startswith(("PROVIDER_CORE_", "PCFIX_", "RELFIX_", "RELHOST_")) and "proxy" not in k.lower())
    }
    env.pop("PYTHONPATH", None)
    env.update(PYTHONIOENCODING="utf-8", NO_PROXY="*")
    env.update(extra)
    return env


@dataclass
class CLIResult:
    """How one run of the CLI ended."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def code(self) -> int:
        return self.returncode

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str | None = "",
    cwd: str | Path = "/",
    timeout: float = SUBPROCESS_TIMEOUT,
) -> CLIResult:
    """Run ``provider-core ARGS`` (the installed console script, else ``python -m
    provider_core``) in a subprocess, in ``cwd`` (away from the source tree), with ``env``
    (default: :func:`clean_env`) and ``stdin`` as its input."""
    script = Path(sys.executable).with_name("provider-core.exe" if os.name == "nt" else "provider-core")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "provider_core"]
    proc = subprocess.run(
        [*command, *args],
        input=(stdin or "").encode("utf-8"),
        capture_output=True,
        env=env if env is not None else clean_env(),
        timeout=timeout,
        cwd=cwd,
    )
    return CLIResult(proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8"))


class Served:
    """A ``provider-core serve --port 0`` process; its stderr is read in a thread (bounded
    waits). ``url()`` waits for it to announce its port and answer ``/healthz``."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: str | Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "provider_core", "serve", "--port", "0", *args],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=cwd,  # not the repo root: import the installed package, as a user would
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            self.lines.put(line)

    def url(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            found = re.search(r"running on (http://127\.0\.0\.1:\d+)", line)
            if found and self._healthy(found.group(1), deadline):
                return found.group(1)
        raise AssertionError("serve did not start:\n" + "".join(self.log))

    def _healthy(self, url: str, deadline: float) -> bool:
        """Poll /healthz (as a load balancer would): with --workers the port is announced
        before the workers accept connections."""
        import httpx

        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(url + "/healthz", timeout=5).status_code == 200:
                    return True
            except httpx.TransportError:
                time.sleep(0.05)
        return False

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
