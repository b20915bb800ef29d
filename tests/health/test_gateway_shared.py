"""End to end: `provider-core serve --workers 2` with the circuits in a real Redis. A
provider that fails three times is skipped by every worker: the next requests are
answered 503 "circuit open until ..." without reaching the provider."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest

from provider_core.health.lua import FETCH
from provider_core.testing.server import free_port

NEEDED = ("starlette", "uvicorn", "redis", "provider_aivvm")
MISSING = [name for name in NEEDED if importlib.util.find_spec(name) is None]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)} (provider-core[test,server])")

SYNC = 0.2  # seconds between the workers' refreshes of the shared state


def post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def worker_pids(log, count: int) -> list[int]:
    """The process ids of the ``count`` gateway workers, from their start-up lines."""
    found: list[int] = []

    def started() -> bool:
        found[:] = sorted({int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", log.read_text())})
        return len(found) >= count

    wait_until(started, 60, f"{count} workers to start")
    return found


def wait_for_syncs(client, prefix: str, pids: list[int]) -> None:
    """Return once every worker in ``pids`` that has its circuits from Redis has reloaded
    them twice after this call began: the first reload may have started before the circuit
    opened, the second began after the first was installed. A worker with no connection to
    Redis yet has not loaded its circuits at all; it loads them at its first request, after
    the circuit opened. The gate is Redis's own command stream (MONITOR), in which a marker
    of ours orders "after"; the workers' connections are told apart by their names
    (``CLIENT SETNAME`` provider-core-breaker-<pid>)."""
    fetch = hashlib.sha1(FETCH.encode()).hexdigest()
    index = f"{prefix}:circuit-index"
    marker = f"gate-{uuid.uuid4().hex}"
    deadline = time.monotonic() + 60
    with client.monitor() as monitor:
        client.echo(marker)
        owners = {c["addr"]: c["name"] for c in client.client_list()}  # connection -> name
        names = {f"provider-core-breaker-{pid}": 0 for pid in pids}
        names = {name: 0 for name in names if name in owners.values()}  # those connected now
        after = False
        for event in monitor.listen():
            if min(names.values(), default=2) >= 2:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for the workers' reloads: {names}")
            command = event["command"]
            if not after:
                after = marker in command
                continue
            if not (command.startswith("EVALSHA") and fetch in command and index in command):
                continue
            address = f"{event['client_address']}:{event['client_port']}"
            if address not in owners:
                owners.update({c["addr"]: c["name"] for c in client.client_list()})
            name = owners.get(address, "")
            if name in names:
                names[name] += 1


def test_every_gateway_worker_skips_a_provider_that_failed_three_times(redis_url, aivvm_server, tmp_path):
    import redis

    prefix = f"pctest-{uuid.uuid4().hex[:10]}"
    port = free_port()
    env = {
        **os.environ,
        "PROVIDER_CORE_REDIS_URL": redis_url,
        "PROVIDER_CORE_REDIS_PREFIX": prefix,
        "PROVIDER_CORE_BREAKER_SYNC": str(SYNC),
        "PROVIDER_CORE_PLUGINS": "aivvm",
        "AIVVM_BASE_URL": aivvm_server.url,
    }
    for _ in range(3):
        aivvm_server.script(status=503, body="upstream overloaded")
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "provider_core", "serve", "--port", str(port), "--workers", "2"),
            *("--include-not-working", "--no-access-log", "--graceful-timeout", "1"),
        ],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    chat = {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}
    try:
        wait_until(lambda: healthy(base) or proc.poll() is not None, 60, "the gateway to start")
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        for _ in range(3):
            status, body = post(f"{base}/v1/chat/completions", chat)
            assert status >= 500 and "503" in body["error"]["message"], body
        assert len(aivvm_server.requests) == 3
        # a read timeout: MONITOR waits for Redis's next command, and a silent stream (the
        # workers gone) must fail the wait below, not hang it
        client = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=30)
        entry = client.hgetall(f"{prefix}:circuit:aivvm|gpt-4")  # an HTTP error counts for its model
        assert int(entry["failures"]) == 3 and float(entry["opened_until"]) > time.time()
        wait_for_syncs(client, prefix, worker_pids(tmp_path / "serve.log", 2))
        for _ in range(10):
            status, body = post(f"{base}/v1/chat/completions", chat)
            assert status == 503, body
            assert "Aivvm: circuit for gpt-4 open until" in body["error"]["message"], body
        assert len(aivvm_server.requests) == 3, "no worker called the provider while its circuit was open"
        client.close()
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
