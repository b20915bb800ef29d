"""Fixtures every test package uses: the fixture plugins, pip-installed once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding every fixture plugin distribution, installed by real pip (once
    per session); put it on ``PYTHONPATH`` to make them installed plugins."""
    from support import install_fixture_plugins  # here: a pytest run of a kit file alone has no pythonpath

    target = tmp_path_factory.mktemp("site")
    try:
        install_fixture_plugins(target, tmp_path_factory.mktemp("build"))
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    return target
