"""Fixtures every test package uses: a private cache directory, the fixture plugins,
pip-installed once per session, and a real redis-server on loopback (the class is
``support.RedisServer``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """``redis://127.0.0.1:PORT/0`` of a redis-server started for this session (no
    persistence), stopped at the end (tests/health and tests/gateway share it). Skips only
    when redis-server is not installed."""
    from support import RedisServer, redis_exe

    server = RedisServer(redis_exe()).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_servers(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``redis_servers(persistent=False, start=True)``: a redis-server of this test's own
    (to stop and start again), stopped at teardown."""
    from support import RedisServer, redis_exe

    exe = redis_exe()
    made: list[Any] = []

    def make(*, persistent: bool = False, start: bool = True) -> Any:
        data_dir = None
        if persistent:
            data_dir = tmp_path / f"redis-data-{len(made)}"
            data_dir.mkdir()
        server = RedisServer(exe, data_dir=data_dir)
        made.append(server)
        return server.start() if start else server

    yield make
    for server in made:
        server.stop()
