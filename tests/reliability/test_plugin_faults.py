"""Broken plugins never break the others: each fault is isolated and reported.

Every test runs the real CLI against really pip-installed distributions (see
``plugin_env``): one whose import fails, one whose ``register_providers`` raises, one that
registers a class breaking the contract, two that share a provider name, one that
registers two classes under one name, and providers that misbehave only when called
(a bare ``Exception``, a non-iterator, non-``str`` chunks).
"""

from __future__ import annotations

import json

import pytest
from support import run_cli


@pytest.fixture(scope="module")
def plugins_json(plugin_env: dict[str, str]) -> dict:
    result = run_cli("plugins", "--json", env=plugin_env)
    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stderr
    return {p["name"]: p for p in json.loads(result.stdout)["plugins"]}


def test_import_failure_is_reported_with_its_cause(plugins_json: dict) -> None:
    info = plugins_json["pcfix_importfail"]
    assert info["status"] == "failed"
    assert info["distribution"] == "pcfix-broken"
    assert any(
        "import failed: ModuleNotFoundError" in e and "pcfix_this_module_does_not_exist" in e for e in info["errors"]
    )


def test_exit_during_import_is_reported_and_does_not_end_the_process(plugins_json: dict) -> None:
    info = plugins_json["relfix_exit"]
    assert info["status"] == "failed"
    assert info["errors"] == ["import failed: SystemExit: 3"]


def test_raising_hook_is_reported_with_its_cause(plugins_json: dict) -> None:
    info = plugins_json["pcfix_hookraise"]
    assert info["status"] == "failed"
    assert info["errors"] == ["register_providers raised RuntimeError: fixture hook exploded"]


def test_contract_breaking_class_is_refused_and_its_sibling_kept(plugins_json: dict) -> None:
    info = plugins_json["pcfix_contract"]
    assert info["providers"] == ["FixtureSurvivor"]
    assert len(info["errors"]) == 1
    assert "FixtureNoModels" in info["errors"][0] and "'models'" in info["errors"][0]


def test_duplicate_names_across_plugins_keep_the_first_and_warn_both(plugins_json: dict) -> None:
    assert plugins_json["pcfix_dup_a"]["providers"] == ["FixtureDup"]
    assert plugins_json["pcfix_dup_b"]["providers"] == []
    for name in ("pcfix_dup_a", "pcfix_dup_b"):
        assert any("'FixtureDup' registered twice" in w for w in plugins_json[name]["warnings"])


def test_duplicate_names_in_one_plugin_keep_the_first_and_warn(plugins_json: dict) -> None:
    info = plugins_json["relfix_twins"]
    assert info["providers"] == ["RelTwin"]
    assert any("RelTwinAgain" in w and "registered twice" in w for w in info["warnings"])


def test_plugins_table_names_every_fault(plugin_env: dict[str, str]) -> None:
    result = run_cli("plugins", env=plugin_env)
    assert result.code == 0
    out = result.stdout
    assert "pcfix_importfail: error: import failed: ModuleNotFoundError" in out
    assert "pcfix_hookraise: error: register_providers raised RuntimeError: fixture hook exploded" in out
    assert "pcfix_contract: error: provider class pcfix_broken.contract.FixtureNoModels breaks rule 'models'" in out
    assert "relfix_twins: warning: provider name 'RelTwin' registered twice" in out


def test_providers_and_route_work_for_the_others(plugin_env: dict[str, str]) -> None:
    result = run_cli("providers", "--json", env=plugin_env)
    assert result.code == 0, result.stderr
    names = {p["name"] for p in json.loads(result.stdout)["providers"]}
    assert {"FixtureEcho", "FixtureSurvivor", "FixtureDup", "RelBackup", "RelTwin", "RelRaises"} <= names
    assert "FixtureNoModels" not in names
    route = run_cli("route", "rel-shared", "--json", env=plugin_env)
    assert route.code == 0, route.stderr
    order = [c["name"] for c in json.loads(route.stdout)["candidates"]]
    assert order == ["RelRaises", "RelNotIterator", "RelBytes", "RelBackup"]
    assert "Traceback" not in result.stderr + route.stderr


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("fixture-echo", "echo: hi there"),
        ("fixture-survivor", "survived"),
        ("fixture-dup", "from dup a"),
        ("rel-twin", "first twin"),
    ],
)
def test_chat_works_for_the_others(plugin_env: dict[str, str], model: str, expected: str) -> None:
    result = run_cli("chat", "-m", model, "hi", "there", env=plugin_env)
    assert (result.code, result.stdout, result.error_lines) == (0, expected + "\n", [])


def test_call_time_faults_fall_back_and_say_so(plugin_env: dict[str, str]) -> None:
    """The three misbehaving providers rank first for rel-shared; the backup answers and
    one warning line names each failure."""
    result = run_cli("chat", "-m", "rel-shared", "hi", env=plugin_env)
    assert (result.code, result.stdout, result.error_lines) == (0, "backup answered\n", [])
    [line] = [line for line in result.stderr.splitlines() if "fell back" in line]
    assert line.startswith("warning: fell back to RelBackup after: ")
    assert "RelRaises: raised Exception: relfix bare failure" in line
    assert "RelNotIterator: ProviderContractError: RelNotIterator.create_completion returned int" in line
    assert "RelBytes: ProviderContractError: RelBytes yielded bytes, not str" in line


@pytest.mark.parametrize(
    ("model", "line"),
    [
        ("rel-raise", "error: no provider could serve 'rel-raise': RelRaises: raised Exception: relfix bare failure"),
        ("rel-noiter", "error: RelNotIterator.create_completion returned int, not an iterator of str"),
        ("rel-bytes", "error: RelBytes yielded bytes, not str"),
    ],
    ids=["raises", "not-an-iterator", "bytes"],
)
def test_call_time_fault_alone_is_one_line(plugin_env: dict[str, str], model: str, line: str) -> None:
    result = run_cli("chat", "-m", model, "hi", env=plugin_env)
    assert (result.code, result.stdout, result.error_lines) == (1, "", [line])
    assert "Traceback" not in result.stderr


def test_non_string_after_first_chunk_interrupts_and_keeps_the_text(plugin_env: dict[str, str]) -> None:
    result = run_cli("chat", "-m", "rel-late", "hi", env=plugin_env)
    assert result.code == 1
    assert result.stdout == "good start \n"
    assert result.error_lines == [
        "error: RelLateBytes stopped after 11 characters (1 chunk): "
        "ProviderContractError: RelLateBytes yielded dict, not str"
    ]


def test_debug_adds_the_traceback(plugin_env: dict[str, str]) -> None:
    result = run_cli("--debug", "chat", "-m", "rel-raise", "hi", env=plugin_env)
    assert result.code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "Exception: relfix bare failure" in result.stderr
