"""What a new user meets: a mistyped command or provider gets a suggestion, every ``--json``
command fails with a JSON error object (commands added later too), ``models`` lists every
model with its providers, and the README's commands are the real ones."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import pytest
from support import HERE

from provider_core import cli

README = HERE.parent / "README.md"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_mistyped_commands_get_suggestions(capsys):
    code, out, err = run(capsys, "provders")
    assert (code, out) == (2, "")
    assert (
        err == "error: unknown command 'provders'; did you mean 'providers' or 'probe'? (see 'provider-core --help')\n"
    )
    code, out, err = run(capsys, "--debug", "modles", "--json")
    assert code == 2
    assert json.loads(out)["error"] == {
        "type": "UsageError",
        "message": "unknown command 'modles'; did you mean 'models'? (see 'provider-core --help')",
        "exit_code": 2,
        "suggestions": ["models"],
    }
    code, _, err = run(capsys, "xyzzy")
    assert code == 2 and err == "error: unknown command 'xyzzy' (see 'provider-core --help')\n"


def test_a_mistyped_provider_gets_a_suggestion(default_registry, make_provider, capsys):
    default_registry.register(make_provider("Aivvm", working=False, status_reason="retired"))
    code, out, err = run(capsys, "chat", "-m", "m", "-p", "aivm", "hi")
    assert (code, out) == (2, "")
    assert err == "error: no provider named 'aivm'; did you mean 'Aivvm'? (installed: Aivvm)\n"


@pytest.mark.parametrize(
    ("argv", "code", "kind"),
    [
        (["route", "no-such-model", "--json"], 2, "ModelNotSupported"),
        (["probe", "nobody", "--json"], 2, "ProviderNotFound"),
        (["refresh", "nobody", "--json"], 2, "ProviderNotFound"),
        (["check", "nobody", "--json"], 2, "CLIError"),
        (["providers", "--json", "--no-such-option"], 2, "UsageError"),
        (["models", "--json", "extra"], 2, "UsageError"),
        (["install", "--json"], 2, "UsageError"),
        (["plugins", "--json", "--bad"], 2, "UsageError"),
    ],
)
def test_every_json_command_fails_with_a_json_error_object(default_registry, make_provider, capsys, argv, code, kind):
    default_registry.register(make_provider("Local", models=("local-1",)))
    got, out, err = run(capsys, *argv)
    assert got == code
    error = json.loads(out)["error"]
    assert (error["type"], error["exit_code"]) == (kind, code)
    assert err == f"error: {error['message']}\n", "the one stderr line says the same"


def test_a_command_added_later_gets_json_errors_too(default_registry, capsys, monkeypatch):
    later = types.ModuleType("provider_core.cli.later")

    def add_parser(subparsers):
        p = subparsers.add_parser("later")
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=lambda args, out: default_registry.get("nobody-here"))

    later.add_parser = add_parser
    monkeypatch.setitem(sys.modules, "provider_core.cli.later", later)
    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, "later"))
    code, out, _ = run(capsys, "later", "--json")
    assert code == 2
    assert json.loads(out)["error"]["type"] == "ProviderNotFound"
    code, out, _ = run(capsys, "later")
    assert code == 2 and out == "", "without --json: only the stderr line"


def test_an_internal_error_under_json_is_a_json_object(default_registry, make_provider, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(default_registry, "models", broken)
    code, out, err = run(capsys, "models", "--json")
    assert code == 1
    error = json.loads(out)["error"]
    assert error["type"] == "RuntimeError" and error["message"] == "internal error: RuntimeError: a bug"
    assert err.startswith("error: internal error: RuntimeError: a bug")


def test_models_lists_every_model_with_its_providers(default_registry, make_provider, capsys):
    default_registry.register(make_provider("Fast", models=("m1", "shared"), priority=5))
    default_registry.register(make_provider("Slow", models=("shared",), working=False, status_reason="down"))
    code, out, _ = run(capsys, "models")
    assert code == 0
    assert out.splitlines() == [
        "MODEL   PROVIDERS",
        "m1      Fast",
        "shared  Fast, Slow (not working)",
    ]
    code, out, _ = run(capsys, "models", "--json")
    assert json.loads(out) == {
        "models": [
            {"id": "m1", "providers": ["Fast"], "working": ["Fast"]},
            {"id": "shared", "providers": ["Fast", "Slow"], "working": ["Fast"]},
        ],
        "aliases": [],
    }


def test_models_lists_the_aliases_with_their_targets(default_registry, make_provider, capsys):
    default_registry.register(make_provider("Fast", models=("m1", "shared")))
    default_registry.add_alias("smart", ["m1@fast", "shared"])
    default_registry.add_alias("m1", "shared")  # shadowed by the model id: not listed as an alias
    code, out, _ = run(capsys, "models")
    assert code == 0 and out.splitlines()[-1] == "smart   alias for m1@fast, shared"
    code, out, _ = run(capsys, "models", "--json")
    assert json.loads(out)["aliases"] == [{"alias": "smart", "targets": ["m1@fast", "shared"], "source": "<explicit>"}]


def test_models_with_nothing_installed_says_where_to_look(default_registry, capsys):
    code, out, _ = run(capsys, "models")
    assert code == 0 and out.startswith("no models: no provider lists one")


def test_only_the_command_run_is_built_but_help_lists_them_all(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    listed = capsys.readouterr().out
    for name in ("providers", "models", "refresh", "install", "uninstall", "serve"):
        assert re.search(rf"^    {name}\b", listed, re.M), name
    only_models = cli.build_parser("models")
    assert only_models.parse_args(["models", "--json"]).json is True
    with pytest.raises(cli.CLIError):
        only_models.parse_args(["providers"])


def test_the_readme_commands_work_when_pasted():
    """The quick start says how to reach the venv's script (its path, or activating the
    venv), installs plugins from the checkout, and every command a shell block runs exists."""
    text = README.read_text(encoding="utf-8")
    assert ".venv/bin/provider-core" in text and "source .venv/bin/activate" in text
    assert "provider-core install ./plugins/openai" in text
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    commands = [line.split(" #", 1)[0] for block in blocks for line in block.splitlines()]
    used = {m for line in commands for m in re.findall(r"(?:^|\s|/)provider-core ([a-z]+)", line)}
    known = set(cli.COMMANDS)
    assert used and used <= known, used - known


def test_readme_and_docs_name_no_registry_distribution_for_the_plugins():
    for path in [README, *(README.parent / "docs").glob("*.md")]:
        text = path.read_text(encoding="utf-8")
        assert "pip install provider-core-openai" not in text, path


def test_docs_exist_for_plugins(tmp_path: Path):
    text = (README.parent / "docs" / "plugins.md").read_text(encoding="utf-8")
    for needle in ("provider-core install", "provider-core uninstall", "provider-core refresh", "models.json", "warn("):
        assert needle in text, needle
