"""docs/writing-a-plugin.md is a working plugin: its files are extracted from the page,
installed with real pip, and must pass ``provider-core check`` and the contract suite;
breaking one rule at a time makes exactly that rule fail. The console output the page shows
is compared with what the installed plugin prints."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from provider_core.contract import RULES
from provider_core.testing import RUNTIME_RULES

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "writing-a-plugin.md"
FILE_BLOCK = re.compile(r"^```(\w+) file=(\S+)\n(.*?)^```$", re.S | re.M)
CONSOLE_BLOCK = re.compile(r"^```console\n(.*?)^```$", re.S | re.M)
PLUGINS_ENV = {"PROVIDER_CORE_PLUGINS": "parrot,parrot-tools,parrot-maintenance", "PROVIDER_CORE_BREAKER": "off"}
TIMEOUT = 300  # a generous bound for one subprocess, never a timing assertion


def _files() -> dict[str, str]:
    text = GUIDE.read_text(encoding="utf-8")
    return {name: body for _, name, body in FILE_BLOCK.findall(text)}


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("provider-core")
    return [str(script)] if script.exists() else [sys.executable, "-m", "provider_core"]


def _run(args: list[str], target: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **PLUGINS_ENV, **env}
    full["PYTHONPATH"] = os.pathsep.join(p for p in (str(target), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.run([*_cli(), *args], env=full, capture_output=True, text=True, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin project, written from the guide's ``file=`` blocks."""
    root = tmp_path_factory.mktemp("provider-core-parrot")
    for name, body in _files().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(body, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def installed(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project installed by pip (not editable) into a directory put on PYTHONPATH."""
    target = tmp_path_factory.mktemp("site")
    if subprocess.run([sys.executable, "-c", "import setuptools"], capture_output=True).returncode != 0:
        pytest.fail("setuptools is needed to build the guide's example (`make install` provides it)")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
    command += ["--disable-pip-version-check", "--target", str(target), str(project)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (target / "provider_parrot" / "__init__.py").exists()
    assert list(target.glob("provider_core_parrot-*.dist-info/entry_points.txt"))
    return target


def _variant(installed: Path, tmp_path: Path, edits: list[tuple[str, str]], module_name: str = "__init__.py") -> Path:
    """A copy of the installed plugin with one module edited (each edit must apply)."""
    copy = tmp_path / "site"
    shutil.copytree(installed, copy, ignore=shutil.ignore_patterns("__pycache__"))
    module = copy / "provider_parrot" / module_name
    source = module.read_text(encoding="utf-8")
    for old, new in edits:
        assert source.count(old) == 1, f"the guide's example must contain {old!r} exactly once"
        source = source.replace(old, new)
    module.write_text(source, encoding="utf-8")
    return copy


# -- the page itself ----------------------------------------------------------------------


def test_the_guide_has_the_whole_project() -> None:
    files = _files()
    assert set(files) == {
        "pyproject.toml",
        "provider_parrot/__init__.py",
        "provider_parrot/tools.py",
        "provider_parrot/maintenance.py",
        "tests/test_contract.py",
    }
    assert len(files["provider_parrot/__init__.py"].splitlines()) < 30
    assert len(files["provider_parrot/tools.py"].splitlines()) < 45
    assert "[project.entry-points.provider_core]" in files["pyproject.toml"]


def test_the_guide_lists_every_rule() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    for rule in [r.id for r in RULES] + list(RUNTIME_RULES):
        assert f"| `{rule}` |" in text, rule


# -- the installed example ----------------------------------------------------------------


def test_the_example_passes_provider_core_check(installed: Path) -> None:
    proc = _run(["check", "parrot"], installed)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0] == "Parrot  (provider_parrot.Parrot, plugin parrot): ok"
    assert proc.stdout.count("  pass  ") == len(RULES)
    assert proc.stdout.endswith("1 provider(s) checked: 1 passed, 0 failed\n")
    data = json.loads(_run(["check", "PARROT", "--json"], installed).stdout)
    assert data["ok"] is True and [p["name"] for p in data["providers"]] == ["Parrot"]


def test_the_console_output_shown_in_the_guide_is_real(installed: Path) -> None:
    shown = 0
    for block in CONSOLE_BLOCK.findall(GUIDE.read_text(encoding="utf-8")):
        for command, output in re.findall(
            r"^\$ provider-core (providers|route parrot-1)\n(.*?)(?=^\$|\Z)", block, re.S | re.M
        ):
            proc = _run(command.split(), installed)
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout == output, f"provider-core {command}"
            shown += 1
    assert shown == 2


def test_the_example_passes_the_contract_suite(installed: Path, project: Path, run_pytest: Any) -> None:
    proc, outcomes = run_pytest(project / "tests" / "test_contract.py", pythonpath=[installed], env=PLUGINS_ENV)
    assert proc.returncode == 0, proc.stdout[-3000:]
    not_passed = [(o.classname, o.name, o.outcome, o.message) for o in outcomes if o.outcome != "passed"]
    # Parrot answers in text only: the one rule that does not apply to it
    assert not_passed == [("TestParrot", "test_tool_call", "skipped", "supports_tools is False")]
    assert len(outcomes) == 2 * (len(RULES) + len(RUNTIME_RULES))


def test_the_provider_working_hook_of_the_guide(installed: Path) -> None:
    assert "1. Parrot" in _run(["route", "parrot-1"], installed).stdout
    proc = _run(["route", "parrot-1"], installed, PARROT_MAINTENANCE="1")
    assert proc.returncode == 1
    assert "skipped Parrot: reported not working by a provider_working hook" in proc.stdout
    assert _run(["route", "parrot-1", "--include-not-working"], installed, PARROT_MAINTENANCE="1").returncode == 0


# -- breaking one rule at a time ----------------------------------------------------------

STRICT_KWARGS = '        if set(kwargs) - {"base_url", "timeout"}:\n            raise TypeError(sorted(kwargs))\n'
STRICT_KWARGS = '        if set(kwargs) - {"base_url", "timeout"}:\n            raise TypeError(sorted(kwargs))\n'
MODELS_LINE = '    models = {"parrot-1": "Parrot 1", "parrot-1-mini": "Parrot 1 Mini"}\n'
TOOL_LINE = '                    yield ToolCall(**item["call"]) if "call" in item else item["text"]\n'
BREAKS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "models": ("static", [(MODELS_LINE, "    models = {}\n"), ('default_model = "parrot-1"', "default_model = None")]),
    "name": ("static", [("(AbstractProvider):\n", '(AbstractProvider):\n    name = "Parrot bird"\n')]),
    "create-completion": ("static", [("    @classmethod\n", "")]),
    "history-sent": ("runtime", [('"messages": messages,', '"messages": messages[-1:],')]),
    "unknown-kwargs": ("runtime", [("        body = {", STRICT_KWARGS + "        body = {")]),
    "chunk-str": ("runtime", [("return iter_text(stream_post(", "return (stream_post(")]),
    # in provider_parrot/tools.py: tool calls read as text
    "tool-call": ("runtime", [(TOOL_LINE, '                    yield item.get("text", "")\n')]),
}
#: The module each break edits (default: provider_parrot/__init__.py).
MODULES = {"tool-call": "tools.py"}


@pytest.mark.parametrize("rule", list(BREAKS))
def test_breaking_one_rule_fails_exactly_that_rule(
    rule: str, installed: Path, project: Path, tmp_path: Path, run_pytest: Any
) -> None:
    kind, edits = BREAKS[rule]
    broken = _variant(installed, tmp_path, edits, MODULES.get(rule, "__init__.py"))

    check = _run(["check", "parrot", "--json"], broken)
    results = {r["rule"]: r for r in json.loads(check.stdout)["providers"][0]["rules"]}
    failing = sorted(r for r, result in results.items() if not result["ok"])
    if kind == "static":
        assert check.returncode == 1 and failing == [rule], check.stdout
        text = _run(["check", "parrot"], broken).stdout
        assert [line.split()[1] for line in text.splitlines() if line.startswith("  FAIL  ")] == [rule]
    else:  # `check` is the static half: a runtime rule is the contract suite's to find
        assert check.returncode == 0 and failing == [], check.stdout

    proc, outcomes = run_pytest(project / "tests" / "test_contract.py", pythonpath=[broken], env=PLUGINS_ENV)
    failed = [o for o in outcomes if o.outcome in ("failed", "error")]
    expected = f"test_static[{rule}]" if kind == "static" else f"test_{rule.replace('-', '_')}"
    assert [o.name for o in failed] == [expected], [(o.name, o.message[:200]) for o in failed]
    assert failed[0].message.startswith(f"[{rule}] ")
    assert proc.returncode == 1
