"""Helpers of the plugin-author kit's tests: run pytest or the CLI in a subprocess, as a
plugin author would, and read the outcome of every test from a JUnit XML report."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Generous bound for a subprocess run on a loaded 2-core machine (seconds); never a timing assertion.
SUBPROCESS_TIMEOUT = 300


@dataclass(frozen=True)
class Outcome:
    """One test of a subprocess run: ``outcome`` is passed, failed, error or skipped."""

    classname: str
    name: str
    outcome: str
    message: str


def _outcomes(report: Path) -> list[Outcome]:
    found = []
    for case in ET.parse(report).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message = (node.get("message", "") or (node.text or "")).removeprefix("Failed: ")
                break
        classname = case.get("classname", "").rsplit(".", 1)[-1]
        found.append(Outcome(classname, case.get("name", ""), outcome, message))
    return found


@pytest.fixture(scope="module")
def run_pytest(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., tuple[subprocess.CompletedProcess[str], list[Outcome]]]:
    """``run_pytest(path, *args, env=None, pythonpath=())``: run pytest on ``path`` in a
    subprocess (a fresh interpreter, the installed plugins autoloaded, as an author's CI
    does); returns the process and the outcome of every test."""

    tmp_path = tmp_path_factory.mktemp("pytest-run")

    def run(
        target: Path, *args: str, env: Mapping[str, str] | None = None, pythonpath: Sequence[Path] = ()
    ) -> tuple[subprocess.CompletedProcess[str], list[Outcome]]:
        report = tmp_path / f"report-{len(list(tmp_path.glob('report-*')))}.xml"
        ini = tmp_path / "pytest.ini"
        ini.write_text("[pytest]\naddopts = --import-mode=importlib -p no:cacheprovider\n", encoding="utf-8")
        full_env = {**os.environ, **(env or {})}
        full_env.pop("PYTEST_ADDOPTS", None)
        full_env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        if pythonpath:
            parts = [str(p) for p in pythonpath] + [full_env.get("PYTHONPATH", "")]
            full_env["PYTHONPATH"] = os.pathsep.join(p for p in parts if p)
        command = [sys.executable, "-m", "pytest", str(target), "-c", str(ini), "--rootdir", str(tmp_path)]
        command += ["-q", f"--junitxml={report}", *args]
        proc = subprocess.run(
            command, cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT
        )
        if not report.exists():
            pytest.fail(f"pytest wrote no report (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc, _outcomes(report)

    return run
