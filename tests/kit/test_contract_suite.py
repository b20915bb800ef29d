"""The contract suite judges providers correctly: a correct provider passes every rule, and
each deliberately broken provider (``contract_cases.py``) fails exactly the test of the rule
it breaks, with a message that starts with that rule's id, while the rules it can no longer
judge are skipped (never failed, never errors)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from provider_core.contract import RULES
from provider_core.testing import RUNTIME_RULES, ProviderContract

CASES = Path(__file__).with_name("contract_cases.py")
ALL_RULES = [("static", r.id) for r in RULES] + [("runtime", r) for r in RUNTIME_RULES]


def _case(kind: str, rule: str) -> tuple[str, str]:
    """The case class that breaks ``rule`` and the one test that must fail for it."""
    label = rule.replace("-", "_")
    if kind == "static":
        return f"TestStatic_{label}", f"test_static[{rule}]"
    return f"TestBroken_{label}", f"test_{label}"


@pytest.fixture(scope="module")
def by_class(run_pytest: Any) -> dict[str, list[Any]]:
    proc, outcomes = run_pytest(CASES)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]  # 1: some tests failed
    grouped: dict[str, list[Any]] = {}
    for outcome in outcomes:
        grouped.setdefault(outcome.classname, []).append(outcome)
    return grouped


def test_correct_provider_passes_every_rule(by_class: dict[str, list[Any]]) -> None:
    results = by_class["TestEcho"]
    assert {o.outcome for o in results} == {"passed"}, [o for o in results if o.outcome != "passed"]
    assert len(results) == len(ALL_RULES)


@pytest.mark.parametrize(("kind", "rule"), ALL_RULES, ids=[r for _, r in ALL_RULES])
def test_a_broken_rule_fails_exactly_its_test(by_class: dict[str, list[Any]], kind: str, rule: str) -> None:
    classname, test_name = _case(kind, rule)
    results = by_class.get(classname)
    assert results, f"no case class {classname} in {CASES.name}"
    assert len(results) == len(ALL_RULES)
    failed = [o for o in results if o.outcome in ("failed", "error")]
    assert [o.name for o in failed] == [test_name], [(o.name, o.outcome, o.message[:300]) for o in failed]
    message = failed[0].message
    assert message.startswith(f"[{rule}] "), message[:300]
    for other in results:
        if other.outcome == "skipped":
            assert other.message.startswith(("not checked: ", "supports_stream is False")), other.message


def test_every_runtime_rule_has_its_test_and_back() -> None:
    tests = {name for name, _ in inspect.getmembers(ProviderContract) if name.startswith("test_")}
    assert tests == {"test_static"} | {f"test_{r.replace('-', '_')}" for r in RUNTIME_RULES}


def test_base_classes_are_not_collected_but_subclasses_are() -> None:
    class TestSomething(ProviderContract):
        provider = object

    assert ProviderContract.__test__ is False
    assert TestSomething.__test__ is True
    for base in ProviderContract.__mro__[1:]:
        assert getattr(base, "__test__", False) is False


def test_a_contract_class_without_provider_says_so(run_pytest: Any, tmp_path: Path) -> None:
    target = tmp_path / "test_forgot.py"
    target.write_text(
        "from provider_core.testing import ProviderContract\n\nclass TestForgot(ProviderContract):\n    pass\n",
        encoding="utf-8",
    )
    _, outcomes = run_pytest(target, "-k", "test_static or test_stream_text")
    assert outcomes and all(o.outcome in ("failed", "error") for o in outcomes)
    assert all("set `provider = YourProviderClass`" in o.message for o in outcomes)
