"""The real CLI in a subprocess, with the bridge installed: listing, plugins, routing and
``check`` never import llm (``PYTHONPROFILEIMPORTTIME`` shows every import), a failing
llm plugin is a warning of the bridge that ``plugins`` shows (text and ``--json``) on
every run, cold and warm, and no ``warning:`` line of any command."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from support import run_cli

from provider_core.plugins import discover


def _installed() -> bool:
    return any(s.name == "llm" and s.value == "provider_llm" for s in discover({}))


@pytest.fixture(autouse=True)
def _needs_the_entry_point() -> None:
    if not _installed():
        if os.environ.get("PROVIDER_CORE_EXPECT_INSTALLED"):
            pytest.fail("the provider_core entry point 'llm' is not installed")
        pytest.skip("provider-core-llm is not installed (pip install plugins/llm)")


def imported_llm(stderr: str) -> bool:
    """Whether the import-time trace on ``stderr`` shows llm (or an llm plugin) imported."""
    names = [line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")]
    assert names, "no import trace: PYTHONPROFILEIMPORTTIME was not honoured"
    return any(n == "llm" or n.startswith(("llm.", "llm_")) for n in names)


def warnings_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


@pytest.mark.parametrize("args", [("providers", "--json"), ("plugins",), ("check",), ("route", "pcfix-free")])
def test_no_command_but_a_request_imports_llm(cli_env: Callable[..., dict], llm_sites: dict[str, Path], args) -> None:
    env = cli_env(llm_sites["good"], PYTHONPROFILEIMPORTTIME="1")
    cold = run_cli(*args, env=env)
    warm = run_cli(*args, env=env)
    for result in (cold, warm):
        assert result.code == 0, result.stderr[-2000:]
        assert not imported_llm(result.stderr)


def test_providers_and_the_missing_key(cli_env: Callable[..., dict], llm_sites: dict[str, Path]) -> None:
    result = run_cli("providers", env=cli_env(llm_sites["good"]))
    assert result.code == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:4]] == ["llm-default", "llm-pcfix_echo", "llm-pcfix_echo-needs-key"]
    assert "  llm-pcfix_echo-needs-key: not working: no key for 'pcfix' (llm keys set pcfix, or PCFIX_ECHO_KEY)" in (
        result.stdout
    )
    route = run_cli("route", "pcfix-echo", env=cli_env(llm_sites["good"]))
    assert route.code == 1
    assert route.stdout.splitlines() == [
        "pcfix-echo: no candidate",
        "  skipped llm-pcfix_echo-needs-key: no key for 'pcfix' (llm keys set pcfix, or PCFIX_ECHO_KEY) for pcfix-echo",
    ]


def test_a_failing_llm_plugin_is_a_warning_of_the_bridge_on_every_run(
    cli_env: Callable[..., dict], llm_sites: dict[str, Path]
) -> None:
    env = cli_env(llm_sites["good"], llm_sites["broken"])
    expected = [
        "llm plugin 'pcfix_broken' (llm-pcfix-broken 1.0) failed to load: "
        "import failed: RuntimeError: pcfix broken at import",
        "llm plugin 'pcfix_hookfail' (llm-pcfix-hookfail 1.0) failed to load: "
        "register_models raised ValueError: pcfix hook failed",
    ]
    for _ in ("cold", "warm"):
        result = run_cli("plugins", env=env)
        assert result.code == 0
        assert warnings_of(result.stderr) == [] and "Traceback" not in result.stderr
        lines = result.stdout.splitlines()
        (bridge,) = [line.split() for line in lines if line.startswith("llm ")]
        assert bridge[3:] == [
            "loaded",
            "(2",
            "warnings)",
            "llm-default,",
            "llm-pcfix_echo,",
            "llm-pcfix_echo-needs-key",
        ]
        assert [line for line in lines if line.startswith("  llm:")] == [f"  llm: warning: {t}" for t in expected]
    data = json.loads(run_cli("plugins", "--json", env=env).stdout)
    (record,) = [p for p in data["plugins"] if p["name"] == "llm"]
    assert (record["status"], record["label"], record["errors"]) == ("loaded", "loaded (2 warnings)", [])
    assert record["warnings"] == expected
    listed = run_cli("providers", env=env)
    assert "llm-pcfix_echo" in listed.stdout and warnings_of(listed.stderr) == []


def test_chat(cli_env: Callable[..., dict], llm_sites: dict[str, Path]) -> None:  # pragma: no cover - v2 core
    result = run_cli("chat", "-m", "pcfix-free", "hello there", env=cli_env(llm_sites["good"]))
    assert (result.code, result.stdout) == (0, "hello there\n")
