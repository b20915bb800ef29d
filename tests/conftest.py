"""Fixtures every test package uses: a private cache directory, and the fixture plugins,
pip-installed once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CACHE_VARIABLE = "PROVIDER_CORE_CACHE_DIR"


@pytest.fixture(scope="session", autouse=True)
def private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """provider-core's cache (the entry-point cache, the model lists) goes to a directory
    of this session, in this process and in every process a test starts (``clean_env``
    keeps the variable): no test reads or writes the user's cache."""
    path = tmp_path_factory.mktemp("provider-core-cache")
    previous = os.environ.get(CACHE_VARIABLE)
    os.environ[CACHE_VARIABLE] = str(path)
    yield path
    if previous is None:
        os.environ.pop(CACHE_VARIABLE, None)
    else:
        os.environ[CACHE_VARIABLE] = previous


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
