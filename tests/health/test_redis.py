"""The Redis backend against a real redis-server on loopback: state shared between
backends and between processes, atomic concurrent updates, TTLs, and the warned fallback
to local state when Redis is unreachable (and the return when it is back)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid

import pytest

from provider_core.health import BreakerConfig, CircuitBreaker, Phase
from provider_core.health.redis_backend import RedisBackend
from provider_core.testing.server import free_port, refused_url

pytest.importorskip("redis", reason="redis-py is not installed (pip install 'provider-core[redis]')")
import redis

SUBPROCESS_TIMEOUT = 60


@pytest.fixture
def prefix() -> str:
    return f"pctest-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def backends(redis_url, prefix):
    made: list[RedisBackend] = []

    def make(**kwargs) -> RedisBackend:
        kwargs.setdefault("prefix", prefix)
        backend = RedisBackend(kwargs.pop("url", redis_url), **kwargs)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


def raw_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=2)


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_two_backends_share_one_circuit(backends):
    a = CircuitBreaker(backends(), BreakerConfig(failures=3))
    b_backend = backends(sync_interval=0.05)
    b = CircuitBreaker(b_backend)
    assert b.phase("Aivvm") is Phase.CLOSED  # b has started: its sync thread runs
    changed = threading.Event()
    b.on_change = lambda after: changed.set() if after is None else None
    for _ in range(3):
        a.failure("Aivvm", "HTTP 503 from Aivvm")
    assert changed.wait(10), "b's sync thread brought the change and told the registry"
    assert b.phase("aivvm") is Phase.OPEN
    assert b.reason("Aivvm").startswith("circuit open until")
    assert "HTTP 503 from Aivvm" in b.reason("Aivvm")
    b.reset("Aivvm")
    assert a.backend.refresh() and a.phase("Aivvm") is Phase.CLOSED


def test_the_half_open_trial_is_claimed_once_across_backends(backends):
    clock = [1_800_000_000.0]
    config = BreakerConfig(failures=1, cooldown=10)
    a = CircuitBreaker(backends(clock=lambda: clock[0]), config, clock=lambda: clock[0])
    b = CircuitBreaker(backends(clock=lambda: clock[0]), config, clock=lambda: clock[0])
    a.failure("P")
    b.backend.refresh()
    clock[0] += 10
    assert a.allow("P")
    assert not b.allow("P"), "b's local copy was stale, but the claim is decided in Redis"


def test_entries_and_the_hash_expire(backends, redis_url, prefix):
    clock = [1_800_000_000.0]
    writer = CircuitBreaker(backends(retention=100, clock=lambda: clock[0]), clock=lambda: clock[0])
    writer.failure("P", "x")
    client = raw_client(redis_url)
    key = f"{prefix}:circuits"
    ttl = client.ttl(key)
    assert 0 < ttl <= 102
    entry = json.loads(client.hget(key, "p"))
    assert entry["failures"] == 1 and entry["expires"] == pytest.approx(clock[0] + 100)
    clock[0] += 101
    reader = CircuitBreaker(backends(retention=100, clock=lambda: clock[0]), clock=lambda: clock[0])
    assert reader.state("P").failures == 0, "an expired entry is ignored"
    writer.failure("Q")
    assert sorted(client.hkeys(key)) == ["q"], "the writer pruned the expired entry"


def test_a_corrupt_entry_counts_as_a_closed_circuit(backends, redis_url, prefix):
    client = raw_client(redis_url)
    client.hset(f"{prefix}:circuits", mapping={"p": "{not json", "q": json.dumps({"failures": "many"})})
    breaker = CircuitBreaker(backends())
    assert breaker.phase("P") is Phase.CLOSED and breaker.phase("Q") is Phase.CLOSED
    breaker.failure("P")
    assert breaker.state("P").failures == 1


WORKER = """
import sys, time
from provider_core.health import BreakerConfig, CircuitBreaker
from provider_core.health.redis_backend import RedisBackend
url, prefix, count, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
backend = RedisBackend(url, prefix=prefix, timeout=5)
breaker = CircuitBreaker(backend, BreakerConfig(failures=1_000_000))
backend.refresh()
time.sleep(max(0.0, start - time.time()))
for i in range(count):
    breaker.failure("Shared", f"fault {i}")
backend.close()
print(backend.degraded or "ok")
"""


def test_two_processes_update_one_circuit_atomically(redis_url, prefix, tmp_path):
    count = 150
    start = time.time() + 1.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, redis_url, prefix, str(count), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
        )
        for _ in range(2)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=SUBPROCESS_TIMEOUT)
        assert proc.returncode == 0, err
        assert out.strip() == "ok", err
    entry = json.loads(raw_client(redis_url).hget(f"{prefix}:circuits", "shared"))
    assert entry["failures"] == 2 * count, "no update was lost between the two processes"


def cli(*args: str, env: dict[str, str], cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provider_core", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=SUBPROCESS_TIMEOUT,
    )


def test_a_provider_failing_three_times_is_skipped_by_every_process(redis_url, prefix, tmp_path):
    pytest.importorskip("provider_aivvm", reason="the Aivvm plugin is not installed")
    env = {
        **os.environ,
        "PROVIDER_CORE_REDIS_URL": redis_url,
        "PROVIDER_CORE_REDIS_PREFIX": prefix,
        "PROVIDER_CORE_PLUGINS": "aivvm",
        "AIVVM_BASE_URL": refused_url(),
    }
    for n in range(1, 4):
        result = cli("probe", "aivvm", "--timeout", "5", "--json", env=env, cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        (row,) = json.loads(result.stdout)["results"]
        assert row["ok"] is False and row["error"]["type"] == "ProviderConnectionError"
        assert row["circuit"] == ("open" if n == 3 else "closed")
    result = cli("route", "gpt-4", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "skipped Aivvm: circuit open until" in result.stdout
    assert "(3 failures in a row; last: ProviderConnectionError" in result.stdout
    result = cli("chat", "-m", "gpt-4", "--include-not-working", "hi", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "circuit open until" in result.stderr and result.stderr.count("\n") == 1
    # a process with its own, in-memory state knows nothing of it
    local = {k: v for k, v in env.items() if k != "PROVIDER_CORE_REDIS_URL"}
    result = cli("route", "gpt-4", env=local, cwd=tmp_path)
    assert "skipped Aivvm: marked not working" in result.stdout


def test_unreachable_redis_falls_back_to_local_state_with_a_warning(backends):
    url = refused_url().replace("http://", "redis://:secret-password@") + "/0"
    backend = backends(url=url, timeout=0.5)
    breaker = CircuitBreaker(backend, BreakerConfig(failures=2))
    with pytest.warns(RuntimeWarning, match="is unreachable.*circuits are kept in this process") as caught:
        assert breaker.phase("P") is Phase.CLOSED
    assert "secret-password" not in str(caught[0].message)
    assert backend.degraded is not None
    breaker.failure("P")
    breaker.failure("P")
    assert breaker.phase("P") is Phase.OPEN, "the local state carries on"


def test_the_backend_returns_to_redis_when_it_is_back(backends, tmp_path):
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    backend = backends(url=url, timeout=0.3, sync_interval=0.05)
    breaker = CircuitBreaker(backend, BreakerConfig(failures=1))
    with pytest.warns(RuntimeWarning, match="unreachable"):
        breaker.failure("Local")  # while Redis is down: counted here
    assert breaker.phase("Local") is Phase.OPEN
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        assert wait_for(lambda: backend.degraded is None), "the sync thread reconnected"
        assert breaker.phase("Local") is Phase.CLOSED, "Redis wins when it is back"
        breaker.failure("Shared")
        assert json.loads(raw_client(url).hget(f"{backend.key}", "shared"))["failures"] == 1
    finally:
        proc.terminate()
        proc.wait(10)
