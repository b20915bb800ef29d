"""The Redis backend against a real redis-server on loopback: state shared between
backends, the layout (one hash per circuit, an index, expiry), corrupt entries, the CLI
across processes, and the warned fallback to local state when Redis is unreachable.
(Lua versus Python: test_redis_lua.py; several processes, and Redis going away and coming
back: test_redis_processes.py.)"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import warnings

import pytest

from provider_core import create_completion
from provider_core.errors import ProviderConnectionError
from provider_core.health import BreakerConfig, CircuitBreaker, CircuitState, Phase
from provider_core.health.redis_backend import RedisBackend
from provider_core.testing.server import refused_url

from .conftest import USER, breaker_registry, wait_for

pytest.importorskip("redis", reason="redis-py is not installed (pip install 'provider-core[redis]')")
import redis

SUBPROCESS_TIMEOUT = 60


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


def test_two_backends_share_one_circuit(backends):
    a = CircuitBreaker(backends(), BreakerConfig(failures=3))
    b_backend = backends(sync_interval=0.05)
    b = CircuitBreaker(b_backend)
    assert b.phase("Aivvm") is Phase.CLOSED  # b has started: its sync thread runs
    changed = threading.Event()
    b.on_change = lambda after: changed.set() if after is None else None
    for _ in range(3):
        a.failure("Aivvm", "HTTP 503 from Aivvm")
    assert changed.wait(30), "b's sync thread brought a change and told the registry"
    # it may have brought the first faults before the third: the one that opens it follows
    assert wait_for(lambda: b.phase("aivvm") is Phase.OPEN)
    assert b.reason("Aivvm").startswith("circuit open until")
    assert "HTTP 503 from Aivvm" in b.reason("Aivvm")
    b.reset("Aivvm")
    assert a.backend.refresh() and a.phase("Aivvm") is Phase.CLOSED


def test_the_half_open_trial_is_claimed_once_across_backends(backends, clock):
    config = BreakerConfig(failures=1, cooldown=10)
    a = CircuitBreaker(backends(), config, clock=clock)
    b = CircuitBreaker(backends(), config, clock=clock)
    a.failure("P")
    b.backend.refresh()
    clock.advance(10)
    assert a.allow("P")
    assert not b.allow("P"), "b's local copy was stale, but the claim is decided in Redis"


def test_one_hash_per_circuit_its_key_opaque_with_an_expiry(backends, redis_url, prefix, clock):
    breaker = CircuitBreaker(backends(retention=100), BreakerConfig(failures=1, cooldown=10), clock=clock)
    for key in ("openai|gpt-4o", "a:b:c"):
        breaker.failure(key, "HTTP 503")
    client = raw_client(redis_url)
    entry = client.hgetall(f"{prefix}:circuit:openai|gpt-4o")
    assert sorted(entry) == sorted(CircuitState().to_dict()), "the fields of a CircuitState"
    assert CircuitState.from_dict(entry) == breaker.state("openai|gpt-4o")
    assert entry["failures"] == "1" and entry["last_error"] == "HTTP 503"
    assert float(entry["opened_until"]) == clock.now + 10 and float(entry["changed"]) == clock.now
    assert client.smembers(f"{prefix}:circuit-index") == {"openai|gpt-4o", "a:b:c"}
    # an open circuit lives `retention` past the end of its cooldown
    assert 0 < client.pttl(f"{prefix}:circuit:a:b:c") <= (10 + 100) * 1000
    assert 0 < client.pttl(f"{prefix}:circuit-index") <= (10 + 100) * 1000
    breaker.reset("a:b:c")
    assert not client.exists(f"{prefix}:circuit:a:b:c")
    assert client.smembers(f"{prefix}:circuit-index") == {"openai|gpt-4o"}
    breaker.reset()
    assert client.keys(f"{prefix}:*") == []


def test_an_expired_entry_is_gone_for_every_reader(backends, redis_url, prefix, clock):
    writer = CircuitBreaker(backends(retention=0.05), BreakerConfig(failures=5), clock=clock)
    writer.failure("P", "x")  # closed with one fault: it expires 0.05 s after it was written
    client = raw_client(redis_url)
    assert wait_for(lambda: not client.exists(f"{prefix}:circuit:p")), "Redis expired the entry"
    reader = CircuitBreaker(backends(), clock=clock)
    assert reader.state("P").failures == 0, "an expired entry is a closed circuit"
    assert client.smembers(f"{prefix}:circuit-index") == set(), "the reader's reload dropped it from the index"
    assert writer.backend.refresh() and writer.state("P").failures == 0


def test_a_corrupt_entry_counts_as_a_closed_circuit(backends, redis_url, prefix):
    client = raw_client(redis_url)
    client.hset(f"{prefix}:circuit:p", mapping={"failures": "many", "opened_until": "soon"})
    client.set(f"{prefix}:circuit:q", "{not a hash")
    client.sadd(f"{prefix}:circuit-index", "p", "q")
    breaker = CircuitBreaker(backends())
    assert breaker.phase("P") is Phase.CLOSED and breaker.phase("Q") is Phase.CLOSED
    assert breaker.snapshot() == {}
    breaker.failure("P")
    breaker.failure("Q")
    assert breaker.state("P").failures == 1 and breaker.state("Q").failures == 1
    assert client.hget(f"{prefix}:circuit:q", "failures") == "1", "the foreign value was replaced"


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
    assert backend.pending == 2, "both kept for Redis"


def test_a_redis_that_never_answers_does_not_hold_up_requests(provider, clock):
    silent = socket.socket()  # accepts connections (the kernel's backlog), never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
    flaky, _ = provider("Flaky", ProviderConnectionError("refused", kind="refused"), priority=1)
    backup, _ = provider("Backup", "answer")
    registry, breaker = breaker_registry(clock, PROVIDER_CORE_REDIS_URL=url, PROVIDER_CORE_REDIS_TIMEOUT="0.2")
    registry.register(flaky)
    registry.register(backup)
    answers: list[str] = []
    caught: list[warnings.WarningMessage] = []

    def requests() -> None:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            answers.extend("".join(create_completion("m", USER, registry=registry)) for _ in range(4))
        caught.extend(seen)

    worker = threading.Thread(target=requests, daemon=True)
    try:
        worker.start()
        worker.join(60)  # a bound: each Redis call gives up after 0.2 s
        assert not worker.is_alive(), "a request waited on Redis without bound"
        assert answers == ["answer"] * 4
        texts = [str(w.message) for w in caught if "is unreachable" in str(w.message)]
        assert len(texts) == 1 and "Timeout" in texts[0], [str(w.message) for w in caught]
        assert breaker.phase("Flaky") is Phase.OPEN, "counted on local state"
    finally:
        breaker.backend.close()
        silent.close()
