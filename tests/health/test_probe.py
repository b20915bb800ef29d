"""`provider-core probe`: one tiny real request per provider, in parallel, against the
loopback Aivvm server and in-process providers; table and --json; exit codes; results
feed the breaker."""

from __future__ import annotations

import io
import json
import threading
from contextlib import redirect_stderr, redirect_stdout

import pytest

from provider_core.cli import main
from provider_core.defaults import reset_registry
from provider_core.health import Phase, get_breaker
from provider_core.probe import DEFAULT_PROMPT, probe_providers
from provider_core.registry import Registry


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["probe", *argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def aivvm_registry(aivvm_server, monkeypatch):
    """The process-wide registry: the installed Aivvm plugin only, pointed at the loopback server."""
    monkeypatch.setenv("AIVVM_BASE_URL", aivvm_server.url)
    registry = Registry(environ={"PROVIDER_CORE_PLUGINS": "aivvm"})
    undo = reset_registry(registry)
    yield registry
    undo()


@pytest.fixture
def use_registry():
    undos = []

    def use(*providers: type) -> Registry:
        registry = Registry(load_entry_points=False, builtins=True, environ={})
        for p in providers:
            registry.register(p)
        undos.append(reset_registry(registry))
        return registry

    yield use
    for undo in reversed(undos):
        undo()


def test_probe_aivvm_prints_a_table_and_exits_0(aivvm_registry, aivvm_server):
    code, out, err = run()
    assert code == 0, err
    header, row = out.splitlines()
    assert header.split() == ["PROVIDER", "MODEL", "RESULT", "LATENCY", "CIRCUIT", "REPLY", "/", "ERROR"]
    assert row.split()[:3] == ["Aivvm", "gpt-3.5-turbo", "ok"]
    assert row.endswith(DEFAULT_PROMPT), "the loopback server echoes the prompt"
    assert " ms " in row and "closed" in row
    (request,) = aivvm_server.requests
    assert request.json["messages"] == [{"role": "user", "content": DEFAULT_PROMPT}]
    assert request.json["model"]["id"] == "gpt-3.5-turbo"


def test_probe_json_and_names_are_case_insensitive(aivvm_registry):
    code, out, _ = run("AIVVM", "aivvm", "--json", "--prompt", "ping?")
    assert code == 0
    data = json.loads(out)
    assert data["ok"] is True
    (row,) = data["results"]  # named twice, probed once
    assert row == {
        "provider": "Aivvm",
        "model": "gpt-3.5-turbo",
        "ok": True,
        "latency_ms": row["latency_ms"],
        "reply": "ping?",
        "error": None,
        "circuit": "closed",
    }
    assert row["latency_ms"] > 0


def test_a_failing_provider_exits_1_says_why_and_counts_against_its_circuit(aivvm_registry, aivvm_server):
    aivvm_server.script(status=503, body="overloaded, try later")
    code, out, err = run()
    assert code == 1
    assert "error" in out and "ProviderHTTPError: HTTP 503" in out and "overloaded, try later" in out
    assert err == "error: 1 of 1 provider(s) did not answer: Aivvm\n"
    breaker = get_breaker(aivvm_registry)
    model = aivvm_registry.get("Aivvm").default_model
    assert breaker.state("Aivvm", model).failures == 1  # an HTTP error answers for its model
    aivvm_server.script(status=502)
    aivvm_server.script(status=500)
    run()
    code, out, _ = run("--json")
    assert json.loads(out)["results"][0]["circuit"] == "open"
    assert breaker.phase("Aivvm", model) is Phase.OPEN and breaker.phase("Aivvm") is Phase.CLOSED
    code, out, _ = run()
    assert code == 0, "a probe names the provider, so it goes through an open circuit"
    assert breaker.phase("Aivvm", model) is Phase.CLOSED, "and its answer closes the circuit"


def test_an_unknown_name_is_a_one_line_usage_error(aivvm_registry):
    code, out, err = run("aivvm", "nope")
    assert code == 2 and out == ""
    assert err == "error: no provider named 'nope' (installed: Aivvm)\n"


def test_no_providers_to_probe(use_registry):
    use_registry()
    code, _, err = run()
    assert code == 1 and err == "error: no providers installed to probe\n"


def test_providers_are_probed_in_parallel(provider, use_registry):
    barrier = threading.Barrier(3, timeout=10)

    def meet():
        barrier.wait()  # passes only when all three probes run at once
        yield "met"

    classes = [provider(name, meet)[0] for name in ("One", "Two", "Three")]
    registry = use_registry(*classes)
    results = probe_providers(classes, registry=registry, timeout=10)
    assert [(r.provider, r.ok, r.reply) for r in results] == [
        ("One", True, "met"),
        ("Two", True, "met"),
        ("Three", True, "met"),
    ]


def test_a_provider_that_ignores_the_timeout_is_reported_and_counted(provider, use_registry):
    release = threading.Event()

    def hang():
        release.wait(30)
        yield "too late"

    slow, _ = provider("Slow", hang)
    quick, _ = provider("Quick", "fast reply")
    registry = use_registry(slow, quick)
    try:
        code, out, err = run("--timeout", "0.2", "--json")
    finally:
        release.set()
    data = json.loads(out)
    assert code == 1 and data["ok"] is False
    by_name = {r["provider"]: r for r in data["results"]}
    assert by_name["Quick"]["ok"] is True and by_name["Quick"]["reply"] == "fast reply"
    assert by_name["Slow"]["error"] == {"type": "ProviderTimeout", "message": "no answer within 0.2s"}
    assert get_breaker(registry).state("Slow").failures == 1
    assert "did not answer: Slow" in err


def test_the_reply_is_cut_and_the_request_closed(provider, use_registry):
    long, script = provider("Long", "x" * 10_000)
    use_registry(long)
    code, out, _ = run("--json")
    assert code == 0
    assert json.loads(out)["results"][0]["reply"] == "x" * 60
    assert script.closed == 1, "the probe closed the stream after the first characters"


@pytest.mark.parametrize("value", ["0", "-1", "abc", "99999"])
def test_a_bad_timeout_is_refused_by_argparse(value, capsys):
    with pytest.raises(SystemExit) as info:
        main(["probe", "--timeout", value])
    assert info.value.code == 2
    assert "--timeout" in capsys.readouterr().err
