"""What the test packages share (importable as ``support``: ``tests/`` is on pytest's
``pythonpath``; the source tree is not): the fixture plugin distributions, a clean
environment for subprocesses, and the one runner of the real CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FIXTURE_DISTRIBUTIONS", "CLIResult", "clean_env", "install_fixture_plugins", "run_cli"]

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
    """pip-install every fixture distribution into ``target`` (a ``--target`` directory),
    building from copies in ``build`` so that the source tree gets no build/ or egg-info."""
    sources = []
    for source in FIXTURE_DISTRIBUTIONS:
        copy = build / f"{source.parent.name}-{source.name}"
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        sources.append(str(copy))
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
    cmd += ["--disable-pip-version-check", "--target", str(target), *sources]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=build)
    if proc.returncode != 0:
        raise RuntimeError(
            f"pip install of the fixture plugins failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: the inherited one minus anything that selects
    plugins, configures provider-core or the fixture plugins, points at the source tree or
    at a proxy; UTF-8 output; plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PROVIDER_CORE_", "PCFIX_", "RELFIX_", "RELHOST_")) and "proxy" not in k.lower()
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
