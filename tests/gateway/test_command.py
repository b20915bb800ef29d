"""``provider-core serve`` as users run it: a real process, real entry points (the installed
Aivvm plugin pointed at its loopback server), the official client, SIGTERM to stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import openai
import pytest

from provider_core.cli import main

KEY = "sk-command-test-4242"


def run_main(args: list[str], env: dict[str, str] | None = None, code: str = "") -> subprocess.CompletedProcess:
    """``provider_core.cli.main(args)`` in a fresh interpreter, after running ``code`` (to
    hide a module, say)."""
    script = code + "import sys; from provider_core.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_help_names_endpoints_and_the_extra(capsys):
    with pytest.raises(SystemExit) as info:
        main(["serve", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for text in ("/v1/chat/completions", "/v1/models", "--workers", "127.0.0.1", "provider-core[server]", "/readyz"):
        assert text in out


def test_missing_web_stack_is_one_line_naming_the_extra():
    result = run_main(["serve"], code="import sys; sys.modules['uvicorn'] = None; ")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert "pip install 'provider-core[server]'" in result.stderr
    assert result.stderr.startswith("error: ")


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["serve"], {"PROVIDER_CORE_MAX_BODY_BYTES": "lots"}, "PROVIDER_CORE_MAX_BODY_BYTES"),
        (["serve", "--api-keys-file", "/nonexistent/keys"], {}, "/nonexistent/keys"),
    ],
)
def test_bad_settings_are_one_line_errors(args, env, needle):
    result = run_main(args, env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and needle in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "env", "hidden", "needle"),
    [
        (["--metrics"], {}, "prometheus_client", "pip install 'provider-core[metrics]'"),
        ([], {"PROVIDER_CORE_TRACING": "on"}, "opentelemetry", "pip install 'provider-core[tracing]'"),
        ([], {"PROVIDER_CORE_RATE_LIMIT_RPM": "many"}, "", "PROVIDER_CORE_RATE_LIMIT_RPM"),
    ],
)
def test_a_missing_extra_or_a_bad_limit_is_one_line(args, env, hidden, needle):
    hide = f"import sys; sys.modules[{hidden!r}] = None; " if hidden else ""
    result = run_main(["serve", "--port", "0", *args], env, code=hide)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and needle in result.stderr, result.stderr


@pytest.mark.parametrize(
    "args", [["--workers", "0"], ["--port", "70000"], ["--max-body-bytes", "-1"], ["--sse-keepalive", "-1"]]
)
def test_bad_arguments_exit_2(args):
    result = run_main(["serve", *args])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


@pytest.fixture
def serve_env(tmp_path):
    provider_aivvm = pytest.importorskip("provider_aivvm")
    from provider_aivvm.server import AivvmServer

    del provider_aivvm
    with AivvmServer(chunk_size=3) as upstream:
        env = {
            **os.environ,
            "AIVVM_BASE_URL": upstream.url,
            "PROVIDER_CORE_PLUGINS": "aivvm",
            "PROVIDER_CORE_API_KEYS": KEY,
            "PYTHONUNBUFFERED": "1",
        }
        yield env, str(tmp_path), upstream


@pytest.mark.parametrize(("workers", "stop"), [(1, signal.SIGINT), (2, signal.SIGTERM)])
def test_serve_with_the_official_client_then_stop(serve_env, helpers, workers, stop):
    from openai import OpenAI

    env, cwd, upstream = serve_env
    served = helpers.Served(["--include-not-working", "--workers", str(workers)], env, cwd)
    try:
        url = served.url()
        with OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0, timeout=30) as client:
            assert "gpt-4" in {m.id for m in client.models.list()}
            for i in range(2 * workers):
                stream = client.chat.completions.create(
                    model="gpt-4", messages=[{"role": "user", "content": f"hello {i} 👋"}], stream=True
                )
                assert "".join(c.choices[0].delta.content or "" for c in stream) == f"hello {i} 👋"
            upstream.script(status=503, body="upstream overloaded")
            with pytest.raises(openai.InternalServerError) as info:
                client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "x"}])
            assert info.value.status_code == 502
    finally:
        code = served.stop(stop)
    assert code == 0, "".join(served.log)
    log = "".join(served.log)
    assert "auth on (1 key)" in log
    assert KEY not in log
    assert "Traceback" not in log
    assert re.search(r"WARNING: +upstream_error: HTTP 503 .*from Aivvm", log), log  # the gateway's own log line


def test_serving_beyond_loopback_without_keys_warns_and_bind_failure_is_reported():
    # 192.0.2.1 (TEST-NET-1) is never a local address: nothing listens beyond loopback here.
    result = run_main(["serve", "--host", "192.0.2.1", "--port", "0"], {"PROVIDER_CORE_PLUGINS": ""})
    lines = result.stderr.splitlines()
    assert lines[0].startswith("warning: serving on 192.0.2.1 without API keys")
    assert result.returncode != 0
    assert any("192.0.2.1" in line and "ERROR" in line for line in lines)
    assert "Traceback" not in result.stderr
    with_keys = run_main(["serve", "--host", "192.0.2.1", "--port", "0"], {"PROVIDER_CORE_API_KEYS": KEY})
    assert "without API keys" not in with_keys.stderr
