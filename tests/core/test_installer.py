"""``provider-core install`` / ``uninstall`` with real pip, into a venv of their own.

Each test gets a fresh venv (made without pip) that sees the test environment's packages
(provider-core, pip, setuptools) through a ``.pth`` file: what the commands install and
remove is that venv's site-packages, never the test environment's. pip runs offline
(``PIP_NO_INDEX=1``) and builds in place (``PIP_NO_BUILD_ISOLATION=0``, which pip reads as
"no isolation") from source directories the tests write.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from support import SUBPROCESS_TIMEOUT, CLIResult, clean_env

PROVIDER_MODULE = """
from provider_core import AbstractProvider, hookimpl


class {cls}(AbstractProvider):
    url = "http://127.0.0.1/"
    working = True
    supports_stream = True
    models = {{"{model}": "{cls}"}}

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        yield "hello from {cls}"


@hookimpl
def register_providers(register):
    register({cls})
"""


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    root = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=SUBPROCESS_TIMEOUT)
    python = root / "bin" / "python"
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout
    (Path(purelib.strip()) / "test_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return root


@pytest.fixture
def run(venv: Path, tmp_path: Path):
    """``run(*args, stdin="")``: ``python -m provider_core ARGS`` in the venv."""

    def run(*args: str, stdin: str = "") -> CLIResult:
        env = clean_env(PIP_NO_INDEX="1", PIP_NO_BUILD_ISOLATION="0", PIP_DISABLE_PIP_VERSION_CHECK="1")
        proc = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "provider_core", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )
        return CLIResult(proc.returncode, proc.stdout, proc.stderr)

    return run


def source(tmp_path: Path, name: str, cls: str | None = "Hello") -> Path:
    """A plugin's source directory (``cls`` None: a distribution without the entry point)."""
    root = tmp_path / "src" / name
    (root / name).mkdir(parents=True)
    entry = f'\n[project.entry-points.provider_core]\n{name} = "{name}"\n' if cls else ""
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name.replace("_", "-")}"\nversion = "1.0"\n{entry}'
    )
    module = PROVIDER_MODULE.format(cls=cls, model=f"{name}-model") if cls else "VALUE = 1\n"
    (root / name / "__init__.py").write_text(module)
    return root


def plugins(run) -> dict[str, dict]:
    result = run("plugins", "--json")
    assert result.code == 0, result.stderr
    return {p["name"]: p for p in json.loads(result.stdout)["plugins"]}


def test_install_from_a_source_path_says_which_providers_arrived(run, tmp_path):
    assert "pcinst_hello" not in plugins(run)
    result = run("install", "-y", str(source(tmp_path, "pcinst_hello")))
    assert result.code == 0, result.stderr
    assert result.stdout == "installed pcinst-hello 1.0\n  plugin pcinst_hello: loaded, providers: Hello\n"
    assert "pcinst" in result.stderr, "pip's own messages go to stderr"
    assert plugins(run)["pcinst_hello"]["providers"] == ["Hello"]
    chat = run("chat", "-m", "pcinst_hello-model", "hi")
    assert (chat.code, chat.stdout) == (0, "hello from Hello\n")
    with pytest.raises(ModuleNotFoundError):
        __import__("pcinst_hello")  # not in the test environment: only in the venv


def test_install_json_and_a_distribution_without_an_entry_point(run, tmp_path):
    result = run(
        "install",
        "--yes",
        "--json",
        str(source(tmp_path, "pcinst_a", "Alpha")),
        str(source(tmp_path, "pcinst_plain", None)),
    )
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    installed = {d["distribution"]: d for d in data["installed"]}
    assert set(installed) == {"pcinst-a", "pcinst-plain"}
    (plugin,) = installed["pcinst-a"]["plugins"]
    assert (plugin["name"], plugin["status"], plugin["providers"]) == ("pcinst_a", "loaded", ["Alpha"])
    assert installed["pcinst-plain"]["plugins"] == []
    (warning,) = data["warnings"]
    assert warning.startswith("pcinst-plain 1.0 has no 'provider_core' entry point")
    assert f"warning: {warning}" in result.stderr


def test_uninstall_by_plugin_name_removes_the_distribution(run, tmp_path):
    assert run("install", "-y", str(source(tmp_path, "pcinst_bye", "Bye"))).code == 0
    result = run("uninstall", "-y", "pcinst_bye")
    assert result.code == 0, result.stderr
    assert result.stdout == "removed pcinst-bye 1.0 (providers gone: Bye)\n"
    assert "pcinst_bye" not in plugins(run)
    again = run("uninstall", "-y", "--json", "pcinst-bye")
    assert again.code == 2
    assert json.loads(again.stdout)["error"]["message"] == "'pcinst-bye' is not installed here"


@pytest.mark.parametrize("name", ["provider-core", "Provider_Core", "pip"])
def test_uninstall_refuses_provider_core_itself_and_pip(run, name):
    result = run("uninstall", "-y", name)
    assert result.code == 2
    assert result.stderr.startswith("error: refusing to uninstall")
    assert run("--version").code == 0


def test_uninstall_of_a_typo_suggests_the_installed_name(run, tmp_path):
    assert run("install", "-y", str(source(tmp_path, "pcinst_hello"))).code == 0
    result = run("uninstall", "-y", "pcinst_helo")
    assert result.code == 2
    assert "'pcinst_helo' is not installed here; did you mean" in result.stderr and "pcinst" in result.stderr
    assert "pcinst_hello" in plugins(run), "nothing was removed"


def test_without_yes_and_without_a_terminal_nothing_is_installed(run, tmp_path):
    result = run("install", str(source(tmp_path, "pcinst_ask")), stdin="y\n")
    assert result.code == 2
    assert result.stderr.startswith("error: Install ") and "pass --yes to go ahead" in result.stderr
    assert "pcinst_ask" not in plugins(run)


def test_a_failing_pip_is_one_error_line_and_exit_1(run, tmp_path):
    result = run("install", "-y", str(tmp_path / "no-such-directory"))
    assert result.code == 1
    assert result.error_lines == ["error: pip install failed (exit code 1; its messages are above)"]
