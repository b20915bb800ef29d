"""``provider-core check``: rule by rule over the providers plugins register, refused classes
and failed plugins included; exit codes 0 / 1 / 2; ``--json``; a light start-up. In-process
over real registries (plugins added as modules); the pip-installed case is in test_guide.py."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest

from provider_core import AbstractProvider, hookimpl
from provider_core.checks import run_checks
from provider_core.cli import main
from provider_core.contract import RULES
from provider_core.registry import Registry


class Good(AbstractProvider):
    working = True
    models = {"kit-1": "Kit 1"}  # noqa: RUF012

    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Any:
        yield "ok"


class NoModels(Good):
    models = {}  # noqa: RUF012


class AlsoBad(Good):
    priority = "first"  # type: ignore[assignment]


def _plugin(name: str, *classes: type, raises: str | None = None) -> types.ModuleType:
    module = types.ModuleType(name)

    @hookimpl
    def register_providers(register: Callable[[type], type]) -> None:
        for cls in classes:
            register(cls)
        if raises:
            raise RuntimeError(raises)

    module.register_providers = register_providers  # type: ignore[attr-defined]
    return module


@pytest.fixture
def registry(use_registry: Callable[[Registry], Registry]) -> Registry:
    """The process-wide registry for this test: one good plugin, one with two refused classes."""
    reg = use_registry(Registry(load_entry_points=False))
    reg.add_plugin(_plugin("kitgood", Good), name="kitgood")
    reg.add_plugin(_plugin("kitbad", NoModels, AlsoBad), name="kitbad")
    return reg


def _check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_refused_classes_are_checked_and_fail_their_rule(registry: Registry, capsys: Any) -> None:
    assert [p.name for p in registry.providers()] == ["Good"]  # the registry refused the others
    code, out, err = _check(capsys)
    assert code == 1 and err == ""
    assert f"Good  ({Good.__module__}.Good, plugin kitgood): ok" in out.splitlines()
    fails = [line.split()[:2] for line in out.splitlines() if line.startswith("  FAIL")]
    assert fails == [["FAIL", "priority"], ["FAIL", "models"]]
    assert out.splitlines()[-1] == "3 provider(s) checked: 1 passed, 2 failed (2 rule(s) broken)"


def test_names_select_providers_or_plugins_case_insensitively(registry: Registry, capsys: Any) -> None:
    code, out, _ = _check(capsys, "GOOD")
    assert code == 0 and out.count("  pass  ") == len(RULES)
    code, out, _ = _check(capsys, "kitBAD")
    assert code == 1 and "NoModels" in out and "AlsoBad" in out and "Good " not in out


def test_unknown_names_exit_2_with_one_line(registry: Registry, capsys: Any) -> None:
    code, out, err = _check(capsys, "good", "nope", "Zilch")
    assert code == 2 and out == ""
    assert err == "error: no provider named 'nope', 'Zilch' (installed: AlsoBad, Good, NoModels)\n"


def test_json_output(registry: Registry, capsys: Any) -> None:
    code, out, _ = _check(capsys, "--json")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False and data["plugins"] == []
    by_name = {p["name"]: p for p in data["providers"]}
    assert set(by_name) == {"Good", "NoModels", "AlsoBad"}
    assert by_name["Good"]["ok"] and by_name["Good"]["plugin"] == "kitgood"
    assert [r["rule"] for r in by_name["NoModels"]["rules"]] == [r.id for r in RULES]
    bad = [r for r in by_name["NoModels"]["rules"] if not r["ok"]]
    assert bad == [
        {
            "rule": "models",
            "summary": next(r.summary for r in RULES if r.id == "models"),
            "ok": False,
            "detail": "models must not be empty",
        }
    ]


def test_a_plugin_whose_hook_raises_fails_the_check(use_registry: Any, capsys: Any) -> None:
    reg = use_registry(Registry(load_entry_points=False))
    reg.add_plugin(_plugin("kitraise", Good, raises="no config file"), name="kitraise")
    code, out, _ = _check(capsys)
    assert code == 1
    assert "plugin kitraise: FAIL  register_providers raised RuntimeError: no config file" in out
    assert json.loads(_check(capsys, "--json")[1])["plugins"] == [
        {"name": "kitraise", "errors": ["register_providers raised RuntimeError: no config file"]}
    ]
    code, out, _ = _check(capsys, "good")  # a named provider: its own rules only
    assert code == 0


def test_a_plugin_whose_hook_takes_warn_is_checked(use_registry: Any, capsys: Any) -> None:
    module = types.ModuleType("kitwarn")

    @hookimpl
    def register_providers(register: Callable[[type], type], warn: Callable[[str], None]) -> None:
        register(Good)
        warn("one endpoint left out")

    module.register_providers = register_providers  # type: ignore[attr-defined]
    reg = use_registry(Registry(load_entry_points=False))
    assert reg.add_plugin(module, name="kitwarn").warnings == ["one endpoint left out"]
    code, out, _ = _check(capsys)
    assert code == 0, out
    assert out.splitlines()[-1] == "1 provider(s) checked: 1 passed, 0 failed"


def test_no_provider_at_all(use_registry: Any, capsys: Any) -> None:
    use_registry(Registry(load_entry_points=False))
    assert _check(capsys) == (0, "no providers installed\n", "")
    assert json.loads(_check(capsys, "--json")[1]) == {"ok": True, "providers": [], "plugins": [], "config": []}


def test_run_checks_api() -> None:
    reg = Registry(load_entry_points=False)
    reg.add_plugin(_plugin("kitgood", Good, NoModels), name="kitgood")
    checked, failed = run_checks(reg, ["nomodels"])
    assert [(c.name, c.ok) for c in checked] == [("NoModels", False)] and failed == {}
    with pytest.raises(LookupError, match="no provider named 'x'"):
        run_checks(reg, ["x"])


def test_check_is_a_command_with_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "provider_core", "check", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and "usage: provider-core check" in proc.stdout and "--json" in proc.stdout
    top = subprocess.run([sys.executable, "-m", "provider_core", "--help"], capture_output=True, text=True, timeout=60)
    assert "check" in top.stdout


@pytest.mark.parametrize("module", ["provider_core.checks", "provider_core.testing"])
def test_importing_the_kit_is_light(module: str) -> None:
    """`check` starts fast and the pytest plugin costs every test run nothing: neither
    imports requests, pydantic, pluggy, the registry or a plugin when imported."""
    heavy = {"requests", "pydantic", "urllib3", "provider_aivvm"} | ({"pluggy"} if module.endswith("checks") else set())
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] in HEAVY or m in CORE))"
    setup = f"HEAVY = {sorted(heavy)!r}; CORE = {{'provider_core.registry'}}"  # pytest itself imports pluggy
    proc = subprocess.run([sys.executable, "-c", f"{setup}\n{code}"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
