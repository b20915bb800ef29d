"""The CLI: the real console script in a subprocess (with the fixture plugins installed by pip)
and ``cli.main()`` in-process over an isolated registry. Outputs, --json shapes, exit codes
(0 ok / 1 provider failure / 2 user error), one-line errors, --debug, stdin, --version, --help."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings

import pytest

import provider_core
from provider_core import ProviderError, cli

PROVIDER_KEYS = {
    "name",
    "url",
    "working",
    "working_static",
    "supports_stream",
    "supports_gpt_35_turbo",
    "supports_gpt_4",
    "supports_message_history",
    "needs_auth",
    "priority",
    "default_model",
    "models",
    "plugin",
}


def _one_error_line(stderr: str) -> str:
    """The stderr of a failed command: warnings, then exactly one ``error:`` line, no traceback."""
    lines = [line for line in stderr.splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


# -- the console script ------------------------------------------------------------------------


def test_version(cli):
    proc = cli("--version")
    assert (proc.returncode, proc.stdout) == (0, f"provider-core {provider_core.__version__}\n")


def test_python_dash_m_is_the_same_command(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "provider_core", "--version"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert (proc.returncode, proc.stdout) == (0, f"provider-core {provider_core.__version__}\n")


def test_help_lists_the_commands_and_the_environment(cli):
    proc = cli("--help")
    assert proc.returncode == 0
    for word in ("providers", "plugins", "route", "chat", "--version", "--debug", "PROVIDER_CORE_PLUGINS"):
        assert word in proc.stdout
    chat = cli("chat", "--help")
    assert chat.returncode == 0
    for word in ("--model", "--provider", "--system", "--temperature", "--no-stream", "stdin"):
        assert word in chat.stdout


def test_no_command_prints_help_and_exits_2(cli):
    proc = cli()
    assert proc.returncode == 2 and "usage:" in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize(
    "args",
    [("chat", "hello"), ("route",), ("frobnicate",), ("chat", "-m", "x", "--temperature", "warm", "hi"), ("--nope",)],
)
def test_usage_errors_are_one_line_exit_2(cli, args):
    proc = cli(*args)
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr)
    assert "--help" in line


def test_providers_table(cli, plugin_site):
    proc = cli("providers", site=plugin_site)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = ["NAME", "WORKING", "STREAM", "GPT-3.5", "GPT-4", "TOOLS", "VISION", "JSON", "MODELS"]
    assert lines[0].split()[:9] == header
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["FixtureEcho"][1:9] == ["yes", "yes", "no", "yes", "no", "no", "no", "2"]
    assert rows["FixtureSleeper"][1] == "no"


def test_providers_filters(cli, plugin_site):
    working = json.loads(cli("providers", "--working", "--json", site=plugin_site).stdout)["providers"]
    assert "FixtureSleeper" not in {p["name"] for p in working} and "FixtureEcho" in {p["name"] for p in working}
    by_model = json.loads(cli("providers", "--model", "fixture-echo", "--json", site=plugin_site).stdout)
    assert [p["name"] for p in by_model["providers"]] == ["FixtureEcho", "FixtureSleeper"]
    none = cli("providers", "--model", "no-such-model", site=plugin_site)
    assert (none.returncode, none.stdout) == (0, "no providers match\n")


def test_providers_json_shape(cli, plugin_site):
    data = json.loads(cli("providers", "--json", site=plugin_site).stdout)
    assert set(data) == {"providers"}
    for record in data["providers"]:
        assert set(record) >= PROVIDER_KEYS, set(record) ^ PROVIDER_KEYS
    names = [p["name"] for p in data["providers"]]
    assert names == sorted(names, key=str.lower)


def test_route_human_output(cli, plugin_site):
    proc = cli("route", "fixture-echo", site=plugin_site)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        "fixture-echo: 1 candidate(s), tried in this order:\n"
        "  1. FixtureEcho (priority 5, plugin pcfix_good)\n"
        "  skipped FixtureSleeper: marked not working\n"
    )


def test_route_unknown_model_is_a_user_error_with_suggestions(cli, plugin_site):
    proc = cli("route", "fixture-ech", site=plugin_site)
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr)
    assert "'fixture-ech'" in line and "did you mean 'fixture-echo'" in line


def test_route_include_not_working(cli, plugin_site):
    plan = json.loads(cli("route", "fixture-echo", "--include-not-working", "--json", site=plugin_site).stdout)
    assert [c["name"] for c in plan["candidates"]] == ["FixtureEcho", "FixtureSleeper"]


def test_chat_prompt_from_arguments_and_stdin(cli, plugin_site):
    proc = cli("chat", "-m", "fixture-echo", site=plugin_site, input="from stdin\n")
    assert (proc.returncode, proc.stdout) == (0, "echo: from stdin\n")
    proc = cli("chat", "-m", "fixture-echo", "--no-stream", "a", "b", site=plugin_site)
    assert (proc.returncode, proc.stdout) == (0, "echo: a b\n")


@pytest.mark.skipif(not hasattr(__import__("os"), "openpty"), reason="needs a pseudo-terminal")
def test_chat_without_prompt_on_a_terminal_says_how(console_script, plugin_site, tmp_path):
    """With a terminal on stdin and no prompt, chat does not sit waiting: it explains."""
    import os

    from_env = {k: v for k, v in os.environ.items() if not k.startswith("PROVIDER_CORE_")}
    primary, secondary = os.openpty()
    try:
        proc = subprocess.run(
            [str(console_script), "chat", "-m", "fixture-echo"],
            stdin=secondary,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={**from_env, "PYTHONPATH": str(plugin_site), "PROVIDER_CORE_PLUGINS": "pcfix_good"},
        )
    finally:
        os.close(primary)
        os.close(secondary)
    assert proc.returncode == 2
    assert _one_error_line(proc.stderr) == "error: no prompt: give it as an argument or pipe it on stdin"


def test_chat_empty_stdin_is_a_user_error(cli, plugin_site):
    proc = cli("chat", "-m", "fixture-echo", site=plugin_site, input="  \n")
    assert proc.returncode == 2
    assert _one_error_line(proc.stderr) == "error: no prompt: stdin was empty"


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("chat", "-m", "fixture-echo", "-t", "3", "hi"), 2, "temperature: must be a number in [0, 2]"),
        (("chat", "-m", "fixture-echo", "--provider", "Nobody", "hi"), 2, "no provider named 'Nobody'"),
        (("chat", "-m", "gpt-17", "hi"), 2, "'gpt-17' is not served"),
        (("chat", "-m", "fixture-survivor", "-p", "FixtureEcho", "hi"), 2, "not served by provider 'FixtureEcho'"),
    ],
)
def test_chat_user_errors(cli, plugin_site, args, code, needle):
    proc = cli(*args, site=plugin_site)
    assert proc.returncode == code
    assert needle in _one_error_line(proc.stderr)
    assert proc.stdout == ""


def test_chat_without_a_working_provider_exits_1(cli, plugin_site):
    proc = cli("chat", "-m", "fixture-echo", "hi", site=plugin_site, PCFIX_DOWN="FixtureEcho")
    assert proc.returncode == 1
    line = _one_error_line(proc.stderr)
    assert "FixtureEcho: reported not working" in line and "FixtureSleeper: marked not working" in line


def test_chat_naming_a_not_working_provider_warns_and_answers(cli, plugin_site):
    proc = cli("chat", "-m", "fixture-echo", "-p", "fixturesleeper", "hi", site=plugin_site)
    assert (proc.returncode, proc.stdout) == (0, "sleeper answered\n")
    assert "warning: FixtureSleeper is marked not working; calling it because it was named" in proc.stderr


@pytest.mark.parametrize("position", ["before", "after"])
def test_debug_shows_the_traceback_before_or_after_the_command(cli, plugin_site, position):
    args = ["route", "fixture-ech"]
    args = ["--debug", *args] if position == "before" else [*args, "--debug"]
    proc = cli(*args, site=plugin_site)
    assert proc.returncode == 2
    assert "Traceback (most recent call last)" in proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1].startswith("error: model 'fixture-ech'")


# -- cli.main() in-process ---------------------------------------------------------------------


@pytest.fixture
def fake_stdin(monkeypatch):
    def set_stdin(text: str) -> None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(text))

    set_stdin("")
    return set_stdin


def test_main_chat_streams_every_chunk(default_registry, make_provider, capsys, fake_stdin):
    default_registry.register(
        make_provider("Local", body=lambda cls, model, messages, stream, **kw: iter(["a", "b", "c"]))
    )
    assert cli.main(["chat", "-m", "m", "hi"]) == 0
    out = capsys.readouterr()
    assert (out.out, out.err) == ("abc\n", "")


def test_main_chat_passes_system_and_temperature(default_registry, make_provider, capsys, fake_stdin):
    seen = {}

    def body(cls, model, messages, stream, **kwargs):
        seen.update(messages=messages, kwargs=kwargs, stream=stream)
        yield "ok"

    default_registry.register(make_provider("Local", body=body))
    fake_stdin("question from stdin")
    assert cli.main(["chat", "-m", "m", "-s", "be brief", "-t", "0.2", "--no-stream"]) == 0
    assert seen == {
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "question from stdin"}],
        "kwargs": {"temperature": 0.2},
        "stream": False,
    }
    assert capsys.readouterr().out == "ok\n"


def _interrupted(cls, model, messages, stream, **kwargs):
    yield "partial "
    yield "answer"
    raise ConnectionResetError("peer went away")


@pytest.mark.parametrize("no_stream", [False, True])
def test_main_chat_interrupted_keeps_the_text_and_exits_1(default_registry, make_provider, capsys, no_stream):
    default_registry.register(make_provider("Local", body=_interrupted))
    argv = ["chat", "-m", "m", "hi", *(["--no-stream"] if no_stream else [])]
    assert cli.main(argv) == 1
    out = capsys.readouterr()
    assert out.out == "partial answer\n"
    line = _one_error_line(out.err)
    assert "Local stopped after 14 characters (2 chunks)" in line and "ConnectionResetError" in line


def test_main_chat_fallback_is_one_warning_line(default_registry, make_provider, capsys):
    def down(cls, model, messages, stream, **kwargs):
        raise ProviderError("first is down\nsecond line", provider=cls.name)

    default_registry.register(make_provider("First", priority=1, body=down))
    default_registry.register(make_provider("Second", body=lambda cls, model, messages, stream, **kw: iter(["ok"])))
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert cli.main(["chat", "-m", "m", "hi"]) == 0
    out = capsys.readouterr()
    assert out.out == "ok\n"
    assert out.err == "warning: fell back to Second after: First: ProviderError: first is down second line\n"


def test_main_internal_error_is_one_line_unless_debug(default_registry, make_provider, capsys):
    def describe(cls):
        raise RuntimeError("describe is broken")

    default_registry.register(make_provider("Odd", describe=classmethod(describe)))
    assert cli.main(["providers", "--json"]) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert line == ("error: internal error: RuntimeError: describe is broken (run with --debug for the traceback)")
    assert cli.main(["providers", "--json", "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "describe is broken" in err


def test_main_ctrl_c_exits_130_with_one_line(default_registry, make_provider, capsys):
    def interrupted(cls, model, messages, stream, **kwargs):
        yield "so far"
        raise KeyboardInterrupt

    default_registry.register(make_provider("Local", body=interrupted))
    assert cli.main(["chat", "-m", "m", "hi"]) == 130
    out = capsys.readouterr()
    assert out.out == "so far\n"
    assert _one_error_line(out.err) == "error: interrupted"


def test_main_restores_the_warning_display(default_registry, make_provider, capsys):
    before = warnings.showwarning
    default_registry.register(make_provider("Local"))
    cli.main(["providers"])
    assert warnings.showwarning is before


def test_main_plugins_json_shape(default_registry, make_provider, capsys):
    import types

    from provider_core import hookimpl

    plugin = types.SimpleNamespace(register_providers=hookimpl(lambda register: register(make_provider("Via"))))
    default_registry.add_plugin(plugin, "inproc")
    assert cli.main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"plugins", "warnings"}
    (record,) = data["plugins"]
    assert record == {
        "name": "inproc",
        "distribution": None,
        "version": None,
        "entry_point": None,
        "status": "explicit",
        "providers": ["Via"],
        "errors": [],
        "warnings": [],
    }


def test_main_route_with_nothing_working_exits_1(default_registry, make_provider, capsys):
    default_registry.register(make_provider("Down", working=False))
    assert cli.main(["route", "m"]) == 1
    out = capsys.readouterr()
    assert out.out == "m: no candidate\n  skipped Down: marked not working\n"
    line = _one_error_line(out.err)
    assert "no working provider serves 'm'" in line and "--provider Down" in line


def test_main_no_plugins_installed(default_registry, capsys):
    assert cli.main(["plugins"]) == 0
    assert capsys.readouterr().out == "no plugins installed\n"
    assert cli.main(["providers"]) == 0
    assert capsys.readouterr().out == "no providers installed\n"
