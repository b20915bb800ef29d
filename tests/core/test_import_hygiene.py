"""``import provider_core`` stays light: no pluggy, requests, pydantic, importlib.metadata and no
plugin module, checked in a fresh interpreter (sys.modules) and with ``-X importtime``."""

from __future__ import annotations

import json

import pytest

from provider_core.cli import COMMANDS

HEAVY = (
    *("pluggy", "requests", "urllib3", "pydantic", "pydantic_core", "importlib.metadata", "importlib_metadata"),
    *("starlette", "uvicorn", "redis", "prometheus_client", "opentelemetry"),  # the extras
)
PLUGINS = ("provider_aivvm", "pcfix_good", "pcfix_broken", "pcfix_dup_a", "pcfix_dup_b")

NEW_MODULES = """
import json, sys
before = set(sys.modules)
import provider_core
{extra}
new = sorted(set(sys.modules) - before)
from importlib.metadata import entry_points  # only now: to name every installed plugin's package
plugins = sorted({{ep.value.split(":")[0].split(".")[0] for ep in entry_points(group="provider_core")}})
print(json.dumps({{"new": new, "plugins": plugins}}))
"""

INSTALLED_PLUGINS: set[str] = set()


def _new_modules(run_python, site, extra: str = "") -> list[str]:
    proc = run_python(NEW_MODULES.format(extra=extra), site=site)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data["plugins"]) >= {"pcfix_good", "pcfix_broken"}, data["plugins"]
    INSTALLED_PLUGINS.update(data["plugins"])
    return data["new"]


def _heavy(modules: list[str]) -> list[str]:
    plugins = set(PLUGINS) | INSTALLED_PLUGINS
    return [m for m in modules if m.split(".")[0] in plugins or any(m == h or m.startswith(h + ".") for h in HEAVY)]


def test_import_loads_nothing_heavy_and_no_plugin(run_python, plugin_site):
    new = _new_modules(run_python, plugin_site)
    assert "provider_core" in new
    assert _heavy(new) == []


@pytest.mark.parametrize(
    "extra",
    [
        "provider_core.__version__",
        "provider_core.AbstractProvider, provider_core.ProviderError, provider_core.ModelNotSupported",
        "provider_core.get_registry()",  # creating the registry is not a query
        "provider_core.Registry(load_entry_points=False)",
        "import provider_core.streaming, provider_core.errors, provider_core.contract",
    ],
)
def test_touching_the_light_parts_stays_light(run_python, plugin_site, extra):
    new = _new_modules(run_python, plugin_site, extra)
    assert _heavy(new) == [], extra


def test_the_first_query_loads_what_it_needs(run_python, plugin_site):
    """The control: the check above would see these modules if they were loaded."""
    new = _new_modules(run_python, plugin_site, "provider_core.get_registry().providers()")
    assert "pluggy" in new and "pcfix_good" in new


def _importtime_children(stderr: str, module: str) -> list[str]:
    """The modules ``-X importtime`` shows as imported while importing ``module`` at top level."""
    rows = [line.split("|") for line in stderr.splitlines() if line.startswith("import time:")]
    names = [row[2].rstrip() for row in rows if len(row) == 3 and "imported package" not in row[2]]
    tops = [i for i, n in enumerate(names) if n.strip() == module and n.startswith(" ") and not n.startswith("  ")]
    assert tops, stderr[-2000:]
    children = []
    for name in reversed(names[: tops[-1]]):
        if len(name) - len(name.lstrip()) <= 1:  # the previous top-level import
            break
        children.append(name.strip())
    return children


def test_importtime_shows_no_heavy_or_plugin_import(run_python, plugin_site):
    proc = run_python("import provider_core", "-X", "importtime", site=plugin_site)
    assert proc.returncode == 0, proc.stderr
    children = _importtime_children(proc.stderr, "provider_core")
    assert _heavy(children) == [], children


def test_importtime_parsing_sees_a_heavy_import(run_python, plugin_site):
    """The control: importing the hookspecs does import pluggy, and the parser must see it."""
    proc = run_python("import provider_core.hookspecs", "-X", "importtime", site=plugin_site)
    assert proc.returncode == 0, proc.stderr
    children = _importtime_children(proc.stderr, "provider_core.hookspecs")
    assert "pluggy" in children and "provider_core" in children


LISTING = """
import contextlib, io, json, sys
WATCHED = {"urllib.parse", "ipaddress", "pathlib"}
MACHINERY = {"importlib", "importlib._bootstrap", "_frozen_importlib", "_frozen_importlib_external"}
importers = []

def hook(event, args):
    if event == "import" and args[0] in WATCHED:
        frame = sys._getframe(1)
        while frame and frame.f_globals.get("__name__") in MACHINERY:
            frame = frame.f_back
        importers.append([args[0], frame.f_globals.get("__name__") if frame else None])

# Scanning the installed metadata (the entry-point cache is cold here) imports them as
# importlib_metadata's: scan once, then forget them, so that any import by the listing shows.
from provider_core.plugins import discover
discover()
for name in WATCHED:
    sys.modules.pop(name, None)
sys.addaudithook(hook)
from provider_core.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(["providers", "--json"])
json.loads(out.getvalue())
print(json.dumps({"code": code, "modules": sorted(sys.modules), "importers": importers}))
"""


def test_a_listing_imports_only_its_own_command_and_no_url_or_path_module(run_python):
    """``providers --json`` (every plugin installed here loaded) imports the ``providers``
    command's module and none of the other commands', and neither the core nor a plugin
    imports what only a request needs: ``urllib.parse`` (with ``ipaddress``) or ``pathlib``
    (bench/RESULTS.md, "CLI cold start")."""
    proc = run_python(LISTING)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout.splitlines()[-1])
    assert data["code"] == 0
    commands = {m for m in data["modules"] if m.startswith("provider_core.cli.") and m.rsplit(".", 1)[-1] in COMMANDS}
    assert commands == {"provider_core.cli.providers"}, commands
    ours = [(module, by) for module, by in data["importers"] if (by or "").startswith("provider_")]
    assert ours == [], ours
