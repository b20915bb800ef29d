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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from provider_core.testing.server import free_port

__all__ = [
    "FIXTURE_DISTRIBUTIONS",
    "CLIResult",
    "RedisServer",
    "Served",
    "clean_env",
    "gateway_chat",
    "gateway_model_ids",
    "install_fixture_plugins",
    "pip_install_target",
    "redis_exe",
    "run_cli",
    "wait_for",
    "wait_until",
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
    waits). ``url()`` waits for it to announce its port and answer ``/healthz``,
    ``wait_log(text, count)`` until its log has ``text`` ``count`` times, ``stop(signum)``
    signals it and returns its exit code."""

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

    def wait_log(self, text: str, count: int = 1, timeout: float = 60) -> None:
        """Wait (bounded) until the log holds ``text`` ``count`` times."""
        deadline = time.monotonic() + timeout
        while "".join(self.log).count(text) < count:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"{text!r} x{count} not in the log:\n" + "".join(self.log))
            time.sleep(0.02)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)


# -- a real redis-server on loopback (the fixtures are in tests/conftest.py) ---------------


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0) -> bool:
    """Poll ``predicate`` every 20 ms until it holds or ``timeout`` passes; its last value.
    A bound on waiting for a condition, never a measure of speed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def wait_until(condition: Callable[[], Any], what: str, bound: float = 60.0) -> None:
    """Wait (bounded, :func:`wait_for`) until ``condition()`` holds; fail naming ``what``
    if it never does. The bound is generous for a loaded machine, never an expectation."""
    assert wait_for(condition, bound), f"gave up waiting for {what}"


# -- a gateway's answers (a Served process's URL) -------------------------------------------


def gateway_model_ids(url: str) -> list[str]:
    """The model ids the gateway at ``url`` lists (``GET /v1/models``)."""
    import httpx

    return [m["id"] for m in httpx.get(url + "/v1/models", timeout=30).json()["data"]]


def gateway_chat(url: str, model: str, text: str = "Hello") -> Any:
    """``POST /v1/chat/completions`` to the gateway at ``url``, not streamed: the
    ``httpx.Response``."""
    import httpx

    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    return httpx.post(url + "/v1/chat/completions", json=body, timeout=30)


class RedisServer:
    """A redis-server on ``127.0.0.1:port`` (a free port unless given). ``start()`` starts it
    and waits (bounded) until it answers; ``kill()`` kills the process (SIGKILL, as a crash);
    ``start()`` again reuses the port. With ``data_dir`` it keeps its data across restarts
    (append-only file, fsync at every write); without, it keeps nothing."""

    def __init__(self, exe: str, *, port: int | None = None, data_dir: Path | None = None) -> None:
        self.exe = exe
        self.port = port or free_port()
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        import redis

        args = [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        if self.data_dir is not None:
            args += ["--dir", str(self.data_dir), "--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            deadline = time.monotonic() + 15
            while True:
                try:
                    client.ping()
                    return self
                except (redis.exceptions.ConnectionError, redis.exceptions.BusyLoadingError):
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                        pytest.fail(f"redis-server did not start on port {self.port}: {err[-500:]}")
                    time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        self._end(kill=True)

    def stop(self) -> None:
        self._end(kill=False)

    def _end(self, *, kill: bool) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if kill:
            proc.kill()
        else:
            proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


def redis_exe() -> str:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server): the Redis backend tests need one")
    pytest.importorskip("redis", reason="redis-py is not installed (pip install 'provider-core[redis]')")
    return exe
