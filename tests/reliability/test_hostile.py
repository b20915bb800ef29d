"""Plugins and providers that try to take their host down, and what a remote client may learn.

A provider that calls ``sys.exit()`` or raises ``KeyboardInterrupt`` (before or after its
first chunk) fails its request and nothing else: the gateway keeps serving, and a real
SIGINT / SIGTERM still stops it with exit code 0. A plugin that raises ``KeyboardInterrupt``
while being imported is a failed plugin like any other, in the CLI and in the gateway; one
that blocks while being imported is named in a warning while the command waits. Error
bodies name the provider and the kind of fault, never a plugin's own exception text (that
goes to the gateway's log).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import run_cli

LEAKED = ("10.9.8.7", "hunter2-internal", "postgres://")


@pytest.fixture
def hostile_env(plugin_env: dict[str, str]) -> dict[str, str]:
    return {**plugin_env, "PROVIDER_CORE_PLUGINS": "relhost_exit,relfix_backup", "PROVIDER_CORE_BREAKER": "off"}


def chat(http: httpx.Client, model: str, prompt: str, stream: bool) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": stream}
    return http.post("/v1/chat/completions", json=body)


@pytest.mark.parametrize("how", ["exit", "kbd"])
def test_a_provider_exiting_fails_its_request_and_the_gateway_keeps_serving(
    hostile_env: dict[str, str], gateway_process: Any, how: str
) -> None:
    gateway = gateway_process(hostile_env)
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        after = chat(http, "rel-exit", f"{how}-after", stream=True)
        assert after.status_code == 200
        assert '"content":"partial "' in after.text
        events = [json.loads(line[6:]) for line in after.text.splitlines() if line.startswith("data: {")]
        assert events[-1]["error"]["code"] == "stream_interrupted"
        assert after.text.rstrip().endswith("data: [DONE]")  # after the error event
        for stream in (True, False):
            before = chat(http, "rel-exit", f"{how}-before", stream=stream)
            assert before.status_code == 502, before.text
            assert before.headers["content-type"] == "application/json"
            assert before.json()["error"]["code"] == "provider_error"
        after_once = chat(http, "rel-exit", f"{how}-after", stream=False)
        assert after_once.status_code == 502 and after_once.json()["error"]["code"] == "stream_interrupted"
        still = chat(http, "rel-shared", "hello", stream=False)
        assert still.status_code == 200
        assert still.json()["choices"][0]["message"]["content"] == "backup answered"
    assert gateway.proc.poll() is None, gateway.log
    assert gateway.stop() == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_real_interrupt_still_stops_the_gateway(
    hostile_env: dict[str, str], gateway_process: Any, signum: int
) -> None:
    gateway = gateway_process(hostile_env)
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        assert chat(http, "rel-exit", "kbd-after", stream=True).status_code == 200
    gateway.proc.send_signal(signum)
    assert gateway.proc.wait(30) == 0


def test_the_cli_fails_one_request_when_a_provider_exits(hostile_env: dict[str, str]) -> None:
    result = run_cli("chat", "-m", "rel-exit", "exit-after", env=hostile_env)
    assert result.code == 1
    assert result.stdout == "partial \n"
    assert result.error_lines == [
        "error: RelExit stopped after 8 characters (1 chunk): ProviderContractError: "
        "RelExit raised SystemExit: 3, not a ProviderError"
    ]


def test_a_plugin_raising_keyboardinterrupt_at_import_is_isolated(
    plugin_env: dict[str, str], gateway_process: Any
) -> None:
    env = {**plugin_env, "PROVIDER_CORE_PLUGINS": "relhost_kbimport,relfix_backup"}
    plugins = run_cli("plugins", "--json", env=env)
    assert plugins.code == 0, plugins.stderr
    [info] = [p for p in json.loads(plugins.stdout)["plugins"] if p["name"] == "relhost_kbimport"]
    assert info["status"] == "failed"
    assert info["errors"] == ["import failed: KeyboardInterrupt"]
    for args in (("providers",), ("route", "rel-shared"), ("chat", "-m", "rel-shared", "hi")):
        result = run_cli(*args, env=env)
        assert result.code == 0, (args, result.stderr)
        assert "interrupted" not in result.stderr
    gateway = gateway_process(env)
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        models = http.get("/v1/models")
        assert models.status_code == 200
        assert "rel-shared" in {m["id"] for m in models.json()["data"]}
        assert http.get("/v1/models").json() == models.json()  # and it stays so
        assert chat(http, "rel-shared", "hi", stream=False).status_code == 200


def test_a_plugin_blocking_at_import_is_named_while_the_command_waits(
    plugin_env: dict[str, str], tmp_path: Path
) -> None:
    """The plugin blocks until the test opens its FIFO, which the test does only once it has
    read the warning: no clock decides anything here, the threshold merely passes."""
    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    env = {
        **plugin_env,
        "PROVIDER_CORE_PLUGINS": "relhost_slow,relfix_backup",
        "RELHOST_SLOW_FIFO": str(fifo),
        "PROVIDER_CORE_SLOW_PLUGIN_SECONDS": "0.2",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "provider_core", "providers"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd="/",
    )
    try:
        assert proc.stderr is not None
        ready, _, _ = select.select([proc.stderr], [], [], 30)  # bounded: the plugin waits for us
        assert ready, "no warning within 30 s while the plugin blocks"
        line = proc.stderr.readline().decode()
        assert line.startswith("warning: plugin 'relhost_slow' is taking more than 0.2 s to load"), line
        assert "PROVIDER_CORE_DISABLE_PLUGINS=relhost_slow" in line
        with open(fifo, "w", encoding="utf-8") as gate:
            gate.write("go")
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0
    assert "RelBackup" in out.decode()


def test_clients_get_the_provider_and_the_kind_of_fault_never_its_own_text(
    hostile_env: dict[str, str], gateway_process: Any
) -> None:
    gateway = gateway_process(hostile_env)
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        for stream in (True, False):
            response = chat(http, "rel-exit", "leak", stream=stream)
            assert response.status_code == 503  # a bare exception: listed as a failed candidate
            error = response.json()["error"]
            assert error["message"] == "no provider could serve 'rel-exit': RelExit: the provider failed"
            assert error["attempts"] == [{"provider": "RelExit", "reason": "the provider failed"}]
            for text in LEAKED:
                assert text not in response.text
    gateway.stop()
    assert "10.9.8.7" in gateway.log  # the details went to the server's log
