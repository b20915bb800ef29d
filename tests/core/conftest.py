"""Shared fixtures of the core tests: provider-class factories, isolated registries, and the
real console script with the fixture plugins (installed once per session, tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import CLIResult, clean_env, run_cli

from provider_core import AbstractProvider
from provider_core.defaults import reset_registry
from provider_core.registry import Registry

#: Entry points of the fixture plugins; PROVIDER_CORE_PLUGINS lists them to hide other installed plugins.
FIXTURE_ENTRY_POINTS = (
    "pcfix_good",
    "pcfix_importfail",
    "pcfix_hookraise",
    "pcfix_contract",
    "pcfix_dup_a",
    "pcfix_dup_b",
)
SUBPROCESS_TIMEOUT = 60


def _echo_body(cls: type, model: str, messages: list[dict[str, str]], stream: bool, **kwargs: Any) -> Iterator[str]:
    yield f"{cls.name}:"
    yield messages[-1]["content"]


@pytest.fixture
def make_provider() -> Callable[..., type]:
    """``make_provider(name, models=..., body=fn, **flags)`` builds a provider class.

    ``body(cls, model, messages, stream, **kwargs)`` is what ``create_completion`` returns
    (default: yields ``"<name>:"`` then the last message's content). Flags default to a
    working, streaming provider serving ``["m"]``.
    """

    def make(name: str, models: Any = ("m",), body: Callable[..., Any] | None = None, **attrs: Any) -> type:
        fn = body or _echo_body
        namespace: dict[str, Any] = {
            "working": True,
            "supports_stream": True,
            "models": {m: m.upper() for m in models} if not isinstance(models, dict) else models,
            "create_completion": classmethod(
                lambda cls, model, messages, stream, **kw: fn(cls, model, messages, stream, **kw)
            ),
            "__module__": "tests.core.fake",
        }
        namespace.update(attrs)
        return type(name, (AbstractProvider,), namespace)

    return make


@pytest.fixture
def registry() -> Registry:
    """An isolated registry: no entry points."""
    return Registry(load_entry_points=False)


@pytest.fixture
def default_registry(registry: Registry) -> Iterator[Registry]:
    """The isolated registry installed as the process-wide one (for ``create_completion``
    without ``registry=`` and for ``cli.main()``), restored afterwards."""
    undo = reset_registry(registry)
    try:
        yield registry
    finally:
        undo()


# -- the real console script, with the fixture plugins (pip-installed once per session) ------


@pytest.fixture(scope="session")
def console_script() -> Path:
    """The installed ``provider-core`` script next to the test interpreter."""
    script = Path(sys.executable).parent / ("provider-core.exe" if os.name == "nt" else "provider-core")
    if not script.exists():
        pytest.fail(f"console script not found at {script}: is provider-core installed in this environment?")
    return script


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., CLIResult]:
    """``cli(*args, site=None, input="", **env)``: :func:`support.run_cli` in an empty
    temporary directory, with ``env`` added to a clean environment. With ``site`` (the
    fixture plugin directory), only the core's fixture plugins load (``PROVIDER_CORE_PLUGINS``
    lists them) unless ``PROVIDER_CORE_PLUGINS`` is given."""

    def run(*args: str, site: Path | None = None, input: str | None = "", **env: str) -> CLIResult:
        extra = dict(env)
        if site is not None:
            extra["PYTHONPATH"] = str(site)
            extra.setdefault("PROVIDER_CORE_PLUGINS", ",".join(FIXTURE_ENTRY_POINTS))
        return run_cli(*args, env=clean_env(**extra), stdin=input, cwd=tmp_path, timeout=SUBPROCESS_TIMEOUT)

    return run


@pytest.fixture
def run_python(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_python(code, *flags, site=None, **env)`` runs the test interpreter on ``code``."""

    def run(code: str, *flags: str, site: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        extra = dict(env)
        if site is not None:
            extra["PYTHONPATH"] = str(site)
        return subprocess.run(
            [sys.executable, *flags, "-c", code],
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=SUBPROCESS_TIMEOUT,
            env=clean_env(**extra),
            cwd=tmp_path,
        )

    return run
