"""``make test`` sets PROVIDER_CORE_EXPECT_INSTALLED=1: then the suite must be testing the
non-editable install, not the source tree (packaging mistakes would otherwise go unseen)."""

from __future__ import annotations

import json
import os
from importlib.metadata import distribution
from pathlib import Path

import pytest

import provider_core

SOURCE_TREE = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    os.environ.get("PROVIDER_CORE_EXPECT_INSTALLED") != "1",
    reason="set PROVIDER_CORE_EXPECT_INSTALLED=1 (as `make test` does) to check the installed package",
)


def test_provider_core_is_imported_from_outside_the_source_tree():
    # The venv may live inside the checkout (.venv, .ci-venv): what must not be imported is
    # the source package itself, ./provider_core.
    location = Path(provider_core.__file__).resolve()
    source_package = SOURCE_TREE / "provider_core"
    assert not location.is_relative_to(source_package), f"provider_core imported from the source tree: {location}"
    assert "site-packages" in location.parts, f"provider_core is not an installed copy: {location}"


def test_the_installed_distribution_is_not_editable():
    dist = distribution("provider-core")
    assert dist.version == provider_core.__version__
    direct_url = dist.read_text("direct_url.json")
    if direct_url:
        assert not json.loads(direct_url).get("dir_info", {}).get("editable", False), direct_url


def test_the_package_data_and_entry_points_are_installed():
    location = Path(provider_core.__file__).resolve().parent
    assert (location / "py.typed").is_file()
    dist = distribution("provider-core")
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts.get("provider-core") == "provider_core.__main__:run"
    pytest_plugins = {ep.name: ep.value for ep in dist.entry_points if ep.group == "pytest11"}
    assert pytest_plugins.get("provider_core") == "provider_core.testing"
