"""Entry-point discovery for real: the fixture plugin distributions (tests/fixtures/plugins)
are pip-installed into a directory once per session and found through importlib.metadata
by the real console script (or the library) in a subprocess with that directory on PYTHONPATH."""

from __future__ import annotations

import json
import os
import time

import pytest

ALL_FIXTURES = "pcfix_good,pcfix_importfail,pcfix_hookraise,pcfix_contract,pcfix_dup_a,pcfix_dup_b"


def _json(proc):
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    return json.loads(proc.stdout)


def _by_name(items):
    return {item["name"]: item for item in items}


def test_good_plugin_shows_with_its_flags(cli, plugin_site):
    providers = _by_name(_json(cli("providers", "--json", site=plugin_site))["providers"])
    echo = providers["FixtureEcho"]
    assert echo["plugin"] == "pcfix_good"
    assert echo["url"] == "http://127.0.0.1/fixture-echo"
    expected_flags = {
        "working": True,
        "working_static": True,
        "supports_stream": True,
        "supports_gpt_35_turbo": False,
        "supports_gpt_4": True,
        "supports_message_history": False,
        "needs_auth": False,
        "priority": 5,
        "default_model": "fixture-echo",
        "models": ["fixture-echo", "fixture-shared"],
    }
    assert {k: echo[k] for k in expected_flags} == expected_flags
    assert providers["FixtureSleeper"]["working"] is False
    # the broken plugins cost nothing to the rest: a valid class next to a refused one registers
    assert set(providers) == {"FixtureEcho", "FixtureSleeper", "FixtureGated", "FixtureSurvivor", "FixtureDup"}


def test_good_plugin_is_routed_to_by_model_name(cli, plugin_site):
    plan = _json(cli("route", "fixture-echo", "--json", site=plugin_site))
    assert plan == {
        "model": "fixture-echo",
        "stream": False,
        "alias": None,
        "strategy": "priority",
        "candidates": [{"name": "FixtureEcho", "model": "fixture-echo", "plugin": "pcfix_good", "priority": 5}],
        "skipped": [
            {"name": "FixtureSleeper", "model": "fixture-echo", "reason": "marked not working", "retry_after": None}
        ],
    }


def test_chat_streams_from_the_installed_plugin(cli, plugin_site):
    proc = cli("chat", "-m", "fixture-echo", "hello", "plugin", "world", site=plugin_site)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "echo: hello plugin world\n"


def test_broken_plugins_show_with_their_errors(cli, plugin_site):
    data = _json(cli("plugins", "--json", site=plugin_site))
    plugins = _by_name(data["plugins"])
    assert {n for n in plugins if n.startswith("pcfix_")} == set(ALL_FIXTURES.split(","))
    assert plugins["breaker"]["status"] == "builtin"  # the core's own, listed too
    others = [p for n, p in plugins.items() if not n.startswith("pcfix_") and p["status"] != "builtin"]  # e.g. aivvm
    assert all(p["status"] == "disabled" for p in others), others
    good = plugins["pcfix_good"]
    assert good == {
        "name": "pcfix_good",
        "distribution": "pcfix-good",
        "version": "1.2.3",
        "entry_point": "pcfix_good",
        "status": "loaded",
        "providers": ["FixtureEcho", "FixtureSleeper", "FixtureGated"],
        "errors": [],
        "warnings": [],
    }
    importfail = plugins["pcfix_importfail"]
    assert importfail["status"] == "failed" and importfail["distribution"] == "pcfix-broken"
    assert importfail["errors"] == [
        "import failed: ModuleNotFoundError: No module named 'pcfix_this_module_does_not_exist'"
    ]
    hookraise = plugins["pcfix_hookraise"]
    assert hookraise["status"] == "failed"
    assert hookraise["errors"] == ["register_providers raised RuntimeError: fixture hook exploded"]
    contract = plugins["pcfix_contract"]
    assert contract["providers"] == ["FixtureSurvivor"]
    (error,) = contract["errors"]
    assert "pcfix_broken.contract.FixtureNoModels" in error and "'models'" in error


def test_plugins_human_output_shows_errors(cli, plugin_site):
    proc = cli("plugins", site=plugin_site)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["PLUGIN", "DISTRIBUTION", "VERSION", "STATUS", "PROVIDERS"]
    assert any(line.split()[:4] == ["pcfix_importfail", "pcfix-broken", "0.1", "failed"] for line in lines)
    assert "pcfix_hookraise: error: register_providers raised RuntimeError: fixture hook exploded" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_duplicate_names_have_a_deterministic_winner_shown_by_plugins(cli, plugin_site):
    for _ in range(2):
        data = _json(cli("plugins", "--json", site=plugin_site))
        plugins = _by_name(data["plugins"])
        assert plugins["pcfix_dup_a"]["providers"] == ["FixtureDup"]
        assert plugins["pcfix_dup_b"]["providers"] == []
        for name in ("pcfix_dup_a", "pcfix_dup_b"):
            (warning,) = plugins[name]["warnings"]
            assert "'FixtureDup' registered twice" in warning and "keeping pcfix_dup_a.FixtureDup" in warning
        assert any("registered twice" in w for w in data["warnings"])
    providers = _by_name(_json(cli("providers", "--json", site=plugin_site))["providers"])
    assert providers["FixtureDup"]["plugin"] == "pcfix_dup_a"
    assert providers["FixtureDup"]["url"] == "http://127.0.0.1/dup-a"
    chat = cli("chat", "-m", "fixture-dup", "hi", site=plugin_site)
    assert chat.stdout == "from dup a\n"
    assert "warning: provider name 'FixtureDup' registered twice" in chat.stderr


def test_disable_plugins(cli, plugin_site):
    env = {"PROVIDER_CORE_DISABLE_PLUGINS": "pcfix_importfail, PCFIX_HOOKRAISE,pcfix_dup_b"}
    plugins = _by_name(_json(cli("plugins", "--json", site=plugin_site, **env))["plugins"])
    for name in ("pcfix_importfail", "pcfix_hookraise", "pcfix_dup_b"):
        assert plugins[name]["status"] == "disabled"
        assert plugins[name]["warnings"] == ["disabled by PROVIDER_CORE_DISABLE_PLUGINS"]
        assert plugins[name]["errors"] == []
    assert plugins["pcfix_dup_a"]["warnings"] == []  # no duplicate any more
    assert plugins["pcfix_good"]["status"] == "loaded"


def test_allow_list_loads_only_the_named_plugins(cli, plugin_site):
    proc = cli("plugins", "--json", site=plugin_site, PROVIDER_CORE_PLUGINS="pcfix_good")
    plugins = _by_name(_json(proc)["plugins"])
    loaded = {name for name, p in plugins.items() if p["status"] not in ("disabled", "builtin")}
    assert loaded == {"pcfix_good"}
    assert plugins["breaker"]["status"] == "builtin"  # the allow-list is for entry points only
    assert plugins["pcfix_dup_a"]["warnings"] == ["not listed in PROVIDER_CORE_PLUGINS"]
    providers = _json(cli("providers", "--json", site=plugin_site, PROVIDER_CORE_PLUGINS="pcfix_good"))
    assert {p["plugin"] for p in providers["providers"]} == {"pcfix_good"}


def test_allow_list_naming_a_plugin_that_is_not_installed_warns(cli, plugin_site):
    proc = cli("plugins", "--json", site=plugin_site, PROVIDER_CORE_PLUGINS="pcfix_good,pcfix_goood")
    data = _json(proc)
    expected = "PROVIDER_CORE_PLUGINS names 'pcfix_goood': no such plugin is installed (installed: "
    assert any(w.startswith(expected) and "pcfix_good" in w for w in data["warnings"]), data["warnings"]
    assert f"warning: {expected}" in proc.stderr
    assert _by_name(data["plugins"])["pcfix_good"]["status"] == "loaded"
    quiet = cli("plugins", "--json", site=plugin_site, PROVIDER_CORE_PLUGINS="pcfix_good")
    assert _json(quiet)["warnings"] == [] and "warning:" not in quiet.stderr


def test_deny_list_wins_over_allow_list(cli, plugin_site):
    env = {"PROVIDER_CORE_PLUGINS": "pcfix_good,pcfix_dup_a", "PROVIDER_CORE_DISABLE_PLUGINS": "pcfix_good"}
    plugins = _by_name(_json(cli("plugins", "--json", site=plugin_site, **env))["plugins"])
    assert {n for n, p in plugins.items() if p["status"] == "loaded"} == {"pcfix_dup_a"}


@pytest.mark.parametrize("value", ["", " , "])
def test_blank_allow_list_loads_no_plugin(cli, plugin_site, value):
    listed = _json(cli("plugins", "--json", site=plugin_site, PROVIDER_CORE_PLUGINS=value))["plugins"]
    plugins = [p for p in listed if p["status"] != "builtin"]  # the breaker: part of the core, always loaded
    assert plugins and all(p["status"] == "disabled" for p in plugins)
    assert _json(cli("providers", "--json", site=plugin_site, PROVIDER_CORE_PLUGINS=value)) == {"providers": []}


def test_unset_allow_list_loads_every_plugin(run_python, plugin_site):
    code = "from provider_core import Registry; print([p.name for p in Registry().plugins() if p.status != 'disabled'])"
    proc = run_python(code, site=plugin_site)
    assert proc.returncode == 0, proc.stderr
    assert "'pcfix_good'" in proc.stdout and "'pcfix_importfail'" in proc.stdout


def test_provider_working_hook_from_a_plugin_drives_routing(cli, plugin_site):
    proc = cli("route", "fixture-echo", "--json", site=plugin_site, PCFIX_DOWN="FixtureEcho")
    assert proc.returncode == 1
    plan = json.loads(proc.stdout)
    assert plan["candidates"] == []
    assert {s["name"]: s["reason"] for s in plan["skipped"]} == {
        "FixtureEcho": "reported not working by a provider_working hook",
        "FixtureSleeper": "marked not working",
    }
    assert proc.stderr.splitlines()[-1].startswith("error: no working provider serves 'fixture-echo'")
    providers = _by_name(_json(cli("providers", "--json", site=plugin_site, PCFIX_DOWN="FixtureEcho"))["providers"])
    assert providers["FixtureEcho"]["working"] is False and providers["FixtureEcho"]["working_static"] is True


def test_chat_flushes_each_chunk_as_it_arrives(console_script, plugin_site, tmp_path):
    """The provider yields "first ", then blocks until a gate file exists: the CLI must have
    written "first " to the pipe before the gate opens, or this test sees nothing."""
    import subprocess

    gate = tmp_path / "gate"
    env = os.environ.copy()
    for key in [k for k in env if k.startswith("PROVIDER_CORE_")]:
        del env[key]
    env.update(PYTHONPATH=str(plugin_site), PCFIX_GATE=str(gate), PROVIDER_CORE_PLUGINS="pcfix_good")
    proc = subprocess.Popen(
        [str(console_script), "chat", "-m", "fixture-gated", "go"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    try:
        os.set_blocking(proc.stdout.fileno(), False)
        seen = b""
        deadline = time.monotonic() + 30
        while b"first " not in seen and time.monotonic() < deadline and proc.poll() is None:
            try:
                seen += os.read(proc.stdout.fileno(), 1024)
            except BlockingIOError:
                time.sleep(0.02)
        assert seen == b"first ", f"the first chunk was not flushed before the provider continued: {seen!r}"
        gate.touch()
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert seen + (rest or b"") == b"first second\n"


# -- the library in a subprocess -----------------------------------------------------------------

LAZY = """
import sys
import provider_core
reg = provider_core.get_registry()
assert "pcfix_good" not in sys.modules, "entry point loaded at import / registry creation"
assert "pluggy" not in sys.modules
names = [p.name for p in reg.providers()]
assert "pcfix_good" in sys.modules
assert "FixtureEcho" in names, names
print("ok")
"""


def test_entry_points_load_lazily_at_the_first_query(run_python, plugin_site):
    proc = run_python(LAZY, site=plugin_site, PROVIDER_CORE_PLUGINS=ALL_FIXTURES)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


CONCURRENT = """
import threading
from provider_core import Registry
reg = Registry()
results = []
def query():
    results.append(sorted(p.name for p in reg.providers()))
threads = [threading.Thread(target=query) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join(30)
assert len(results) == 4, results
assert all(r == results[0] for r in results), results
assert "FixtureEcho" in results[0], results
print("ok")
"""


def test_concurrent_first_queries_all_see_the_loaded_registry(run_python, plugin_site):
    proc = run_python(CONCURRENT, site=plugin_site, PROVIDER_CORE_PLUGINS="pcfix_good", PCFIX_SLOW_REGISTER="0.5")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


BACKPORT = """
import sys
if sys.argv[-1] == "stdlib":
    sys.modules["importlib_metadata"] = None  # the backport is not installed: the stdlib must do
from provider_core.plugins import discover
sources = {s.name: s for s in discover()}
good = sources["pcfix_good"]
assert (good.distribution, good.version, good.value) == ("pcfix-good", "1.2.3", "pcfix_good"), good
assert good.load().__name__ == "pcfix_good"
print(sys.modules.get("importlib_metadata") is not None, "importlib.metadata" in sys.modules)
"""


@pytest.mark.parametrize("flavour", ["backport", "stdlib"])
def test_discovery_with_and_without_the_importlib_metadata_backport(run_python, plugin_site, flavour):
    code = BACKPORT.replace('sys.argv[-1] == "stdlib"', repr(flavour == "stdlib"))
    proc = run_python(code, site=plugin_site)
    assert proc.returncode == 0, proc.stderr
    used_backport = proc.stdout.split()[0] == "True"
    if flavour == "stdlib":
        assert not used_backport
    else:
        try:
            import importlib_metadata  # noqa: F401
        except ImportError:
            pytest.skip("the importlib_metadata backport is not installed here")
        import sys

        assert used_backport == (sys.version_info < (3, 12))


def test_a_registry_without_entry_points_ignores_installed_plugins(run_python, plugin_site):
    code = "from provider_core import Registry; r = Registry(load_entry_points=False); print(len(r), r.plugins())"
    proc = run_python(code, site=plugin_site)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0 []"
