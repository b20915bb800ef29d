"""Several processes sharing circuits through a real redis-server, and Redis going away and
coming back: every transition applied exactly once however the processes interleave, a
change made in one process reaching the others through their sync threads, and nothing
lost while Redis is down (the transitions kept locally are replayed when it is back).
Every wait is for a condition, bounded; the breakers run on fixed clocks."""

from __future__ import annotations

import logging
import threading
import warnings

import pytest

from provider_core import FallbackWarning, create_completion
from provider_core.errors import ProviderConnectionError
from provider_core.health import BreakerConfig, CircuitBreaker, CircuitState, Phase
from provider_core.health.redis_backend import RedisBackend

from .conftest import USER, breaker_registry, wait_for

pytest.importorskip("redis", reason="redis-py is not installed (pip install 'provider-core[redis]')")
import redis


def raw_state(url: str, prefix: str, key: str) -> CircuitState | None:
    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
    try:
        entry = client.hgetall(f"{prefix}:circuit:{key}")
    finally:
        client.close()
    return CircuitState.from_dict(entry) if entry else None


def calls(url: str, *commands: str) -> dict[str, int]:
    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return {name: int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in commands}


def test_two_processes_hammering_one_circuit_apply_every_transition_once(redis_url, prefix, workers, clock):
    count = 400
    team = [workers(redis_url, prefix, now=clock.now, failures=10**6, sync=3600) for _ in range(2)]
    before = calls(redis_url, "watch", "multi", "exec")
    for worker in team:  # both start before either is answered
        worker.send(f"fail Shared {count}")
    seen = [worker.read()["seen"] for worker in team]
    assert sorted(seen[0] + seen[1]) == list(range(1, 2 * count + 1)), (
        "each fault was applied exactly once: every count from 1 to N x M was returned to one process"
    )
    assert all(s == sorted(s) for s in seen), "each process saw its own faults in order"
    assert raw_state(redis_url, prefix, "shared").failures == 2 * count, "no update was lost"
    assert calls(redis_url, "watch", "multi", "exec") == before, "no WATCH, no MULTI/EXEC: nothing to retry"
    for worker in team:
        assert worker.ask("state Shared")["degraded"] is False


def test_a_circuit_opened_in_one_process_reaches_another_through_its_sync(redis_url, prefix, workers, clock):
    backend = RedisBackend(redis_url, prefix=prefix, sync_interval=0.05)
    breaker = CircuitBreaker(backend, BreakerConfig(failures=3), clock=clock)
    try:
        changed = threading.Event()
        breaker.on_change = lambda after: changed.set() if after is None else None
        assert not breaker.blocked("Remote")  # the copy is loaded and the sync thread runs
        other = workers(redis_url, prefix, now=clock.now, failures=3)
        assert other.ask("fail Remote 3")["seen"] == [1, 2, 3]
        assert changed.wait(30), "this process's sync thread brought a change and told the router"
        # (perhaps the first faults only: the third, which opens the circuit, follows)
        assert wait_for(lambda: breaker.blocked("Remote")), "no call to Redis on the routing path"
        assert breaker.reason("Remote").startswith("circuit open until")
        assert breaker.state("Remote") == raw_state(redis_url, prefix, "remote")
    finally:
        backend.close()


def unreachable(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "is unreachable" in str(w.message)]


def back_again(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "reachable again" in r.getMessage()]


def test_redis_killed_and_started_again_loses_nothing(redis_servers, prefix, workers, clock, provider, caplog):
    caplog.set_level(logging.WARNING, logger="provider_core.health")
    server = redis_servers(persistent=True)
    flaky, flaky_calls = provider("Flaky", ProviderConnectionError("refused", kind="refused"), priority=1)
    backup, _ = provider("Backup", "answer")
    registry, breaker = breaker_registry(
        clock,
        PROVIDER_CORE_REDIS_URL=server.url,
        PROVIDER_CORE_REDIS_PREFIX=prefix,
        PROVIDER_CORE_BREAKER_SYNC="0.05",
        PROVIDER_CORE_REDIS_TIMEOUT="0.5",
    )
    registry.register(flaky)
    registry.register(backup)
    backend = breaker.backend
    other = workers(server.url, prefix, now=clock.now, failures=3)

    def ask() -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FallbackWarning)
            return "".join(create_completion("m", USER, registry=registry))

    try:
        assert ask() == "answer"  # Flaky's first fault, recorded in Redis
        assert raw_state(server.url, prefix, "flaky").failures == 1
        assert other.ask("state Flaky")["state"]["failures"] == 1, "the other process's copy has it"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            server.kill()
            assert ask() == "answer" and ask() == "answer", "requests keep working on local state"
            assert breaker.phase("Flaky") is Phase.OPEN, "the third fault opened it here"
            assert ask() == "answer" and flaky_calls.calls == 3, "routing skips the open circuit"
            assert other.ask("fail Flaky 1")["seen"] == [2], "the other process counts on its own copy"
        assert len(unreachable(caught)) == 1, [str(w.message) for w in caught]
        assert backend.pending == 2 and backend.degraded is not None
        local = breaker.state("Flaky")

        server.start()  # same port, same data
        assert wait_for(lambda: backend.degraded is None and backend.pending == 0), "replayed, then shared again"
        assert other.ask("shared") == {"ok": True}
        assert len(back_again(caplog)) == 1, caplog.text
        assert "2 transition(s) kept meanwhile were replayed" in back_again(caplog)[0]

        shared = raw_state(server.url, prefix, "flaky")
        assert shared is not None and shared.failures == 4, "1 before the outage, 2 here and 1 there during it"
        assert shared.opened_until == local.opened_until, "opened with the original time of the third fault"
        assert backend.refresh() and breaker.state("Flaky") == shared
        answer = other.ask("state Flaky")
        assert CircuitState.from_dict(answer["state"]) == shared, "every process agrees"
        assert answer["pending"] == 0 and not answer["degraded"]
        assert breaker.phase("Flaky") is Phase.OPEN
    finally:
        other.close()
        backend.close()
    assert len(unreachable_lines(other.stderr())) == 1, other.stderr()


def unreachable_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "is unreachable" in line]


def test_redis_down_from_the_start_gets_the_local_faults_when_it_starts(redis_servers, prefix, clock, caplog):
    caplog.set_level(logging.WARNING, logger="provider_core.health")
    server = redis_servers(start=False)
    backend = RedisBackend(server.url, prefix=prefix, timeout=0.3, sync_interval=0.05)
    breaker = CircuitBreaker(backend, BreakerConfig(failures=1), clock=clock)
    try:
        with pytest.warns(RuntimeWarning, match="unreachable"):
            breaker.failure("Local", "counted while Redis was down")
        assert breaker.phase("Local") is Phase.OPEN
        server.start()
        assert wait_for(lambda: backend.degraded is None), "the sync thread reconnected and replayed"
        assert breaker.phase("Local") is Phase.OPEN, "the local fault was not dropped"
        assert raw_state(server.url, prefix, "local") == breaker.state("Local")
        breaker.failure("Shared")
        assert raw_state(server.url, prefix, "shared").failures == 1, "later transitions go straight to Redis"
        assert len(back_again(caplog)) == 1
    finally:
        backend.close()


def test_a_reset_and_a_clear_made_while_redis_is_down_are_replayed_in_order(redis_servers, prefix, clock):
    server = redis_servers(persistent=True)
    backend = RedisBackend(server.url, prefix=prefix, timeout=0.3, sync_interval=0.05)
    breaker = CircuitBreaker(backend, BreakerConfig(failures=1), clock=clock)
    try:
        breaker.failure("Old")
        breaker.failure("Kept")
        with pytest.warns(RuntimeWarning, match="unreachable"):
            server.kill()
            breaker.reset()  # forget everything...
            breaker.failure("New")  # ...then count a new fault
            breaker.failure("Gone")
            breaker.reset("Gone")
        assert backend.pending == 4
        server.start()
        assert wait_for(lambda: backend.degraded is None)
        assert raw_state(server.url, prefix, "old") is None and raw_state(server.url, prefix, "kept") is None
        assert raw_state(server.url, prefix, "gone") is None
        assert raw_state(server.url, prefix, "new").failures == 1
        assert sorted(backend.items()) == ["new"]
    finally:
        backend.close()


def test_the_journal_keeps_the_latest_transitions_and_says_how_many_it_dropped(redis_servers, prefix, clock, caplog):
    caplog.set_level(logging.WARNING, logger="provider_core.health")
    server = redis_servers(start=False)
    backend = RedisBackend(server.url, prefix=prefix, timeout=0.3, sync_interval=0.05, journal_limit=2)
    breaker = CircuitBreaker(backend, BreakerConfig(failures=10), clock=clock)
    try:
        with pytest.warns(RuntimeWarning, match="unreachable"):
            for _ in range(3):
                breaker.failure("P")
        assert backend.pending == 2 and breaker.state("P").failures == 3
        server.start()
        assert wait_for(lambda: backend.degraded is None)
        assert raw_state(server.url, prefix, "p").failures == 2
        (message,) = back_again(caplog)
        assert "2 transition(s) kept meanwhile were replayed" in message
        assert "1 older transition(s) were dropped" in message
    finally:
        backend.close()
