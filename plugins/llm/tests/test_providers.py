"""The providers the bridge registers: names, models, the split by key, ``working`` and
``status_reason``, capability flags, routing over them, the static contract; keys never
shown; the bridge's problems as warnings of its plugin record (and, on a core whose hook
has no ``warn``, as Python warnings)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import provider_llm
import pytest
from provider_llm.providers import LlmProvider

from provider_core.checks import run_checks
from provider_core.errors import NoProviderAvailable
from provider_core.registry import Registry
from provider_core.secrets import REDACTED, redact_secrets

KEY = "sk-llm-bridge-SECRET-0001"


def registry() -> Registry:
    """A registry with the bridge as its only plugin (Python warnings silenced)."""
    reg = Registry(load_entry_points=False)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        reg.add_plugin(provider_llm, "llm")
    return reg


def by_name(reg: Registry) -> dict[str, type]:
    return {p.name: p for p in reg.providers()}


def test_no_key_one_not_working_provider_saying_which_key() -> None:
    providers = by_name(registry())
    assert list(providers) == ["llm-default"]
    default = providers["llm-default"]
    assert (default.working, issubclass(default, LlmProvider), default.llm_plugin) == (False, True, "default")
    assert "gpt-4o" in default.models and default.models["gpt-4o"] == "OpenAI Chat: gpt-4o"
    assert default.status_reason.startswith("no key for 'openai' (llm keys set openai, or OPENAI_API_KEY) for gpt-4o")


def test_the_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    (default,) = registry().providers()
    assert (default.name, default.working, default.status_reason, default.needs_auth) == (
        "llm-default",
        True,
        None,
        True,
    )
    assert redact_secrets(f"x {KEY} y") == f"x {REDACTED} y"


def test_the_key_from_llms_key_store(write_keys: Callable[[dict[str, str]], None]) -> None:
    write_keys({"openai": KEY})
    reg = registry()
    (default,) = reg.providers()
    assert default.working
    assert KEY not in repr(reg.describe(default))
    assert redact_secrets(KEY) == REDACTED  # remembered: no output of the process shows it


def test_keyless_and_keyed_models_are_split(loopback_model: Callable[..., object]) -> None:
    loopback_model()
    reg = registry()
    providers = by_name(reg)
    assert list(providers) == ["llm-default", "llm-default-needs-key"]
    usable, missing = providers["llm-default"], providers["llm-default-needs-key"]
    assert (usable.working, list(usable.models), usable.status_reason) == (True, ["loop"], None)
    assert (missing.working, "loop" in missing.models, "gpt-4o" in missing.models) == (False, False, True)
    assert "OPENAI_API_KEY" in missing.status_reason
    assert [p.name for p in reg.route("loop")] == ["llm-default"]
    with pytest.raises(NoProviderAvailable) as caught:
        reg.route("gpt-4o")
    assert "llm-default-needs-key: no key for 'openai'" in str(caught.value)


def test_a_named_key_for_an_extra_model(loopback_model: Callable[..., object], write_keys: Callable) -> None:
    loopback_model(api_key_name="loopkey")
    (default,) = registry().providers()
    assert (default.working, default.status_reason) == (False, default.status_reason)
    assert "no key for 'loopkey' (llm keys set loopkey, or OPENAI_API_KEY) for loop" in default.status_reason
    write_keys({"loopkey": KEY})
    providers = by_name(registry())
    assert list(providers["llm-default"].models) == ["loop"]


def test_capability_flags_come_from_the_models(loopback_model: Callable[..., object], monkeypatch) -> None:
    loopback_model(supports_tools=False, supports_schema=False, vision=False, can_stream=False)
    (usable, _) = registry().providers()
    assert (usable.supports_stream, usable.supports_tools, usable.supports_json, usable.supports_vision) == (
        False,
        False,
        False,
        False,
    )
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    (everything,) = registry().providers()
    assert everything.supports_stream and everything.supports_tools and everything.supports_json
    assert everything.supports_vision and everything.supports_gpt_4 and everything.supports_gpt_35_turbo


def test_each_llm_plugin_is_a_provider(use_site: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch) -> None:
    use_site("good")
    providers = by_name(registry())
    assert list(providers) == ["llm-default", "llm-pcfix_echo", "llm-pcfix_echo-needs-key"]
    echo, missing = providers["llm-pcfix_echo"], providers["llm-pcfix_echo-needs-key"]
    assert sorted(echo.models) == ["pcfix-async", "pcfix-free"]
    assert list(missing.models) == ["pcfix-echo"]
    assert missing.status_reason == "no key for 'pcfix' (llm keys set pcfix, or PCFIX_ECHO_KEY) for pcfix-echo"
    monkeypatch.setenv("PCFIX_ECHO_KEY", KEY)
    echo = by_name(registry())["llm-pcfix_echo"]
    assert sorted(echo.models) == ["pcfix-async", "pcfix-echo", "pcfix-free"]
    assert (echo.supports_stream, echo.supports_tools, echo.supports_vision, echo.supports_json) == (
        True,
        True,
        True,
        False,
    )
    assert hasattr(echo, "acreate_completion")  # it has async models
    assert echo.priority == -1  # native plugins serving the same model come first


BROKEN = [
    "llm plugin 'pcfix_broken' (llm-pcfix-broken 1.0) failed to load: "
    "import failed: RuntimeError: pcfix broken at import",
    "llm plugin 'pcfix_hookfail' (llm-pcfix-hookfail 1.0) failed to load: "
    "register_models raised ValueError: pcfix hook failed",
]


def test_failed_llm_plugins_are_warnings_of_the_bridge_not_failures(use_site: Callable[[str], Path]) -> None:
    use_site("good")
    use_site("broken")
    reg = Registry(load_entry_points=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", provider_llm.LlmPluginWarning)  # none: they go through warn
        info = reg.add_plugin(provider_llm, "llm")
    assert (info.status, info.errors, info.label) == ("explicit", [], "explicit (2 warnings)")  # not failed
    assert "llm-pcfix_echo" in info.providers
    assert info.warnings == BROKEN
    assert provider_llm.plugin_warnings() == BROKEN  # warm: still known


OLD_CORE = """
import json, warnings

import pluggy
from provider_core import hookspecs


@hookspecs.hookspec
def register_providers(register):
    "The hook as provider-core specified it before the model catalog: no warn."


hookspecs.register_providers = register_providers
import provider_llm

manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
manager.add_hookspecs(hookspecs)
manager.register(provider_llm)  # validated against the older specification
registered = []
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    manager.hook.register_providers(register=registered.append)
print(json.dumps({
    "providers": [cls.name for cls in registered],
    "warnings": [[w.category.__name__, str(w.message)] for w in caught],
}))
"""


def test_on_a_core_without_warn_the_problems_are_python_warnings(
    cli_env: Callable[..., dict], llm_sites: dict[str, Path], tmp_path: Path
) -> None:
    env = cli_env(llm_sites["good"], llm_sites["broken"])
    proc = subprocess.run(
        [sys.executable, "-c", OLD_CORE], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert "llm-pcfix_echo" in result["providers"]
    assert result["warnings"] == [["LlmPluginWarning", text] for text in BROKEN]


def test_the_static_contract_holds(use_site: Callable[[str], Path], loopback_model: Callable[..., object]) -> None:
    use_site("good")
    loopback_model()
    checked, failed = run_checks(registry())
    assert failed == {}
    assert [c.name for c in checked] == [
        "llm-default",
        "llm-default-needs-key",
        "llm-pcfix_echo",
        "llm-pcfix_echo-needs-key",
    ]
    assert all(c.ok for c in checked), [c.to_dict() for c in checked if not c.ok]


def test_no_llm_plugin_and_no_llm_models_register_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "fake-llm"
    (fake / "llm").mkdir(parents=True)
    (fake / "llm" / "__init__.py").write_text("raise ImportError('no llm here')\n", "utf-8")
    monkeypatch.syspath_prepend(str(fake))
    classes, problems = provider_llm.load_providers()
    assert (classes, problems) == ([], ["llm could not be used: import failed: ImportError: no llm here"])


def test_an_unreadable_key_store(llm_home: Path) -> None:
    (llm_home / "keys.json").write_text("{broken", "utf-8")
    classes, problems = provider_llm.load_providers()
    assert [c.name for c in classes] == ["llm-default"]
    assert problems == [f"{llm_home / 'keys.json'}: not valid JSON"]
    info = Registry(load_entry_points=False).add_plugin(provider_llm, "llm")
    assert (info.providers, info.warnings) == (["llm-default"], problems)


def test_a_key_store_that_is_not_utf8(llm_home: Path) -> None:
    """Like invalid JSON: one warning naming the file (none of its bytes), and the models
    still registered; before, the decoding error failed the whole plugin."""
    (llm_home / "keys.json").write_bytes(b'{"openai": "sk-\xff\xfe"}')
    classes, problems = provider_llm.load_providers()
    assert [c.name for c in classes] == ["llm-default"]
    assert problems == [f"{llm_home / 'keys.json'}: not UTF-8 text"]
