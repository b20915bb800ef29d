"""Shared fixtures of the core tests: provider-class factories, isolated registries, the
fixture plugins pip-installed once per session, and a runner for the real console script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from provider_core import AbstractProvider
from provider_core.defaults import reset_registry
from provider_core.registry import Registry

FIXTURE_PLUGINS = Path(__file__).resolve().parent.parent / "fixtures" / "plugins"
FIXTURE_DISTS = ("good", "broken", "dup_a", "dup_b")
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


# -- the fixture plugins, really pip-installed ------------------------------------------------


def _wheel_builder_available() -> str | None:
    """Why ``pip install --no-build-isolation`` cannot build here, or None."""
    try:
        import setuptools
    except ImportError:
        return "setuptools is not installed in the test environment"
    major, minor = (int(p) for p in setuptools.__version__.split(".")[:2])
    if (major, minor) >= (70, 1):
        return None
    try:
        import wheel  # noqa: F401
    except ImportError:
        return f"setuptools {setuptools.__version__} needs the 'wheel' package to build (or setuptools>=70.1)"
    return None


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the fixture plugin distributions, installed by real pip.

    The sources are copied first so that the build leaves nothing in the source tree.
    """
    problem = _wheel_builder_available()
    if problem:
        pytest.fail(f"cannot build the fixture plugins: {problem} (`make install` provides both)")
    root = tmp_path_factory.mktemp("pcfix")
    src = root / "src"
    shutil.copytree(FIXTURE_PLUGINS, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = root / "site"
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    cmd += ["--disable-pip-version-check", "--no-index", "--target", str(target)]
    cmd += [str(src / d) for d in FIXTURE_DISTS]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=root)
    if proc.returncode != 0:
        pytest.fail(f"pip install of the fixture plugins failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return target


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: inherited, minus anything that selects plugins or
    points at the source tree, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVIDER_CORE_", "PCFIX_"))}
    env.pop("PYTHONPATH", None)
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def console_script() -> Path:
    """The installed ``provider-core`` script next to the test interpreter."""
    script = Path(sys.executable).parent / ("provider-core.exe" if os.name == "nt" else "provider-core")
    if not script.exists():
        pytest.fail(f"console script not found at {script}: is provider-core installed in this environment?")
    return script


@pytest.fixture
def run_cli(console_script: Path, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_cli(*args, site=None, input=None, **env)`` runs the real console script.

    With ``site`` (the fixture plugin dir), only the fixture plugins load
    (``PROVIDER_CORE_PLUGINS`` lists them) unless ``PROVIDER_CORE_PLUGINS`` is given.
    The working directory is an empty temporary directory, away from the source tree.
    """

    def run(
        *args: str, site: Path | None = None, input: str | None = "", **env: str
    ) -> subprocess.CompletedProcess[str]:
        extra = dict(env)
        if site is not None:
            extra["PYTHONPATH"] = str(site)
            extra.setdefault("PROVIDER_CORE_PLUGINS", ",".join(FIXTURE_ENTRY_POINTS))
        return subprocess.run(
            [str(console_script), *args],
            input=input,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=SUBPROCESS_TIMEOUT,
            env=clean_env(**extra),
            cwd=tmp_path,
        )

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
