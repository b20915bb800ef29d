"""The circuit breaker's state machine, on a fake clock: closed -> open after N upstream
faults in a row -> half-open after the cooldown (one trial) -> closed or re-opened."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provider_core.errors import (
    EmptyResponse,
    InvalidMessages,
    ModelNotSupported,
    ProviderConnectionError,
    ProviderContractError,
    ProviderHTTPError,
    ProviderNotFound,
    ProviderTimeout,
    StreamInterrupted,
)
from provider_core.health import BreakerConfig, CircuitBreaker, Phase, is_upstream_fault
from provider_core.health.breaker import (
    CLOSED_STATE,
    claim_trial,
    format_clock,
    phase,
    record_failure,
    record_success,
)
from provider_core.health.plugin import config_from_environ


def make(clock, **config) -> CircuitBreaker:
    return CircuitBreaker(config=BreakerConfig(**config), clock=clock)


def test_three_failures_open_for_the_cooldown_then_half_open(clock):
    b = make(clock)
    for n in (1, 2):
        b.failure("P", "boom")
        assert b.phase("p") is Phase.CLOSED and b.state("p").failures == n
        assert not b.blocked("P")
    b.failure("P", "boom")
    assert b.phase("P") is Phase.OPEN
    assert b.state("P").opened_until == clock.now + 60
    clock.advance(59.9)
    assert b.blocked("P") and not b.allow("P")
    clock.advance(0.1)
    assert b.phase("P") is Phase.HALF_OPEN
    assert not b.blocked("P")


def test_a_break_after_the_first_chunk_resumes_the_streak(clock):
    b = make(clock)
    b.failure("P")
    b.failure("P")
    b.success("P")  # the first chunk arrived...
    b.failure("P", "reset", midstream=True)  # ...then the stream broke
    assert b.phase("P") is Phase.OPEN and b.state("P").failures == 3


def test_a_success_resets_the_streak(clock):
    b = make(clock)
    b.failure("P")
    b.failure("P")
    b.success("P")
    b.failure("P")
    b.failure("P")
    assert b.phase("P") is Phase.CLOSED and b.state("P").failures == 2


def test_half_open_admits_one_trial_then_closes_on_success(clock):
    b = make(clock, failures=1, cooldown=10)
    b.failure("P")
    clock.advance(10)
    assert b.allow("P"), "the first request after the cooldown is the trial"
    assert not b.allow("P"), "a second one waits while the trial is in flight"
    assert b.blocked("P")
    assert "trial request is in flight" in b.reason("P")
    b.success("P")
    assert b.phase("P") is Phase.CLOSED and b.state("P").failures == 0
    assert b.state("P").suspended == 1, "kept aside in case this stream breaks"
    assert b.allow("P") and b.allow("P")
    b.success("P")
    assert b.state("P") == CLOSED_STATE, "the next success forgets it"


def test_a_failed_trial_reopens_at_once(clock):
    b = make(clock, failures=3, cooldown=10)
    for _ in range(3):
        b.failure("P")
    clock.advance(10)
    assert b.allow("P")
    b.failure("P", "still down")
    assert b.phase("P") is Phase.OPEN
    assert b.state("P").opened_until == clock.now + 10


def test_a_trial_whose_outcome_never_comes_lapses(clock):
    b = make(clock, failures=1, cooldown=10, trial_timeout=30)
    b.failure("P")
    clock.advance(10)
    assert b.allow("P")
    clock.advance(29)
    assert not b.allow("P")
    clock.advance(1)
    assert b.allow("P"), "the claim lapsed: a new trial may go"


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(None, 60), (30, 60), (600, 600), (10**9, 3600)],
    ids=["none", "shorter-than-cooldown", "longer-wins", "capped-at-max"],
)
def test_retry_after_wins_where_longer(clock, retry_after, expected):
    b = make(clock)
    b.failure("P")
    b.failure("P")
    b.failure("P", "429", retry_after)
    assert b.state("P").opened_until == pytest.approx(clock.now + expected)


@pytest.mark.parametrize(("retry_after", "expected"), [(30, 30), (600, 600), (10**9, 3600)])
def test_a_retry_after_opens_the_circuit_at_once_until_then(clock, retry_after, expected):
    b = make(clock)
    b.failure("P", "429", retry_after)
    assert b.phase("P") is Phase.OPEN
    assert b.state("P").opened_until == pytest.approx(clock.now + expected)
    clock.advance(expected)
    assert b.phase("P") is Phase.HALF_OPEN


def test_a_failure_while_open_can_only_extend_it(clock):
    b = make(clock, failures=1, cooldown=60)
    b.failure("P")
    until = b.state("P").opened_until
    clock.advance(5)
    b.failure("P")  # e.g. a call naming the provider while its circuit is open
    assert b.state("P").opened_until == until
    b.failure("P", "", 300)
    assert b.state("P").opened_until == clock.now + 300


def test_names_are_case_insensitive_and_independent(clock):
    b = make(clock, failures=1)
    b.failure("Aivvm")
    assert b.phase("AIVVM") is Phase.OPEN
    assert b.phase("other") is Phase.CLOSED


def test_reason_names_the_time_the_streak_and_the_last_error(clock):
    b = make(clock)
    assert b.reason("P") is None
    for _ in range(3):
        b.failure("P", "ProviderTimeout: P: timed out")
    until = format_clock(clock.now + 60)
    assert b.reason("P") == f"circuit open until {until} (3 failures in a row; last: ProviderTimeout: P: timed out)"
    clock.advance(60)
    assert b.reason("P") is None


def test_on_change_reports_changes_and_deadlines(clock):
    seen = []
    b = CircuitBreaker(clock=clock, on_change=seen.append, config=BreakerConfig(failures=1, cooldown=10))
    b.success("P")  # nothing recorded: no write, no change
    assert seen == []
    b.failure("P")
    assert seen == [None]
    clock.advance(4)
    assert b.blocked("P")
    assert seen == [None, pytest.approx(6)]  # the answer changes in 6 s by itself
    b.reset()
    assert seen[-1] is None and b.phase("P") is Phase.CLOSED


def test_snapshot_lists_recorded_circuits(clock):
    b = make(clock, failures=1)
    b.failure("Aivvm", "x")
    b.failure("Other", "y")
    b.reset("other")
    snap = b.snapshot()
    assert list(snap) == ["aivvm"]
    assert snap["aivvm"]["phase"] == "open" and snap["aivvm"]["last_error"] == "x"


# -- which errors count -------------------------------------------------------------------


def http(status: int, retry_after: float | None = None) -> Exception:
    return ProviderHTTPError(status, provider="P", retry_after=retry_after)


@pytest.mark.parametrize(
    "error",
    [
        ProviderTimeout("t", kind="read-timeout"),
        ProviderConnectionError("r", kind="reset"),
        ProviderConnectionError("r", kind="refused"),
        http(500),
        http(502),
        http(503),
        http(429, 30),
        http(401),
        StreamInterrupted("cut", received_chars=3),
        ProviderContractError("yielded bytes", rule="chunk-str"),
        RuntimeError("a broken provider raising"),
        KeyError("x"),
    ],
    ids=repr,
)
def test_upstream_faults_count(error):
    assert is_upstream_fault(error)


@pytest.mark.parametrize(
    "error",
    [
        InvalidMessages([("messages[0].role", "bad")]),
        http(400),
        http(413),
        http(422),
        ModelNotSupported("gpt-9"),
        ProviderNotFound("x"),
        EmptyResponse("nothing: a caller can provoke it (docs/health.md)"),
    ],
    ids=repr,
)
def test_a_callers_bad_request_does_not_count(error, clock):
    assert not is_upstream_fault(error)
    b = make(clock, failures=1)
    b.record("P", error)
    assert b.phase("P") is Phase.CLOSED and b.state("P") == CLOSED_STATE


def test_record_uses_retry_after_of_a_429(clock):
    b = make(clock, failures=1)
    b.record("P", http(429, 900))
    assert b.state("P").opened_until == clock.now + 900
    assert "HTTP 429" in b.state("P").last_error


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs", [{"failures": 0}, {"failures": 1.5}, {"cooldown": 0}, {"cooldown": float("inf")}, {"max_cooldown": 1}]
)
def test_config_refuses_nonsense(kwargs):
    with pytest.raises(ValueError):
        BreakerConfig(**kwargs)


def test_config_from_environ():
    config = config_from_environ(
        {
            "PROVIDER_CORE_BREAKER_FAILURES": "5",
            "PROVIDER_CORE_BREAKER_COOLDOWN": "2.5",
            "PROVIDER_CORE_BREAKER_MAX_COOLDOWN": "10",
            "PROVIDER_CORE_BREAKER_TRIAL_TIMEOUT": "7",
        }
    )
    assert config == BreakerConfig(failures=5, cooldown=2.5, max_cooldown=10, trial_timeout=7)
    assert config_from_environ({}) == BreakerConfig()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PROVIDER_CORE_BREAKER_FAILURES", "three"),
        ("PROVIDER_CORE_BREAKER_FAILURES", "0"),
        ("PROVIDER_CORE_BREAKER_COOLDOWN", "-1"),
        ("PROVIDER_CORE_BREAKER_COOLDOWN", "nan"),
    ],
)
def test_a_bad_setting_warns_names_it_and_keeps_the_default(name, value):
    with pytest.warns(RuntimeWarning, match=name):
        config = config_from_environ({name: value})
    assert config == BreakerConfig()


def test_a_cooldown_longer_than_the_max_raises_the_max():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = config_from_environ({"PROVIDER_CORE_BREAKER_COOLDOWN": "7200"})
    assert config.cooldown == config.max_cooldown == 7200 and not caught


# -- invariants over any sequence of events -------------------------------------------------

EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["fail", "midstream", "ok", "claim"]),
        st.floats(min_value=0, max_value=200, allow_nan=False),
        st.one_of(st.none(), st.floats(min_value=0, max_value=10_000, allow_nan=False)),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(events=EVENTS, threshold=st.integers(1, 5))
def test_invariants_hold_for_any_event_sequence(events, threshold):
    config = BreakerConfig(failures=threshold, cooldown=60, max_cooldown=3600, trial_timeout=30)
    state, now = CLOSED_STATE, 1000.0
    for kind, wait, retry_after in events:
        now += wait
        before = phase(state, now)
        if kind in ("fail", "midstream"):
            state = record_failure(state, now, config, "e", retry_after, midstream=kind == "midstream")
            after = phase(state, now)
            # opens exactly at the threshold, at once from half-open, or at once for a Retry-After
            asked = retry_after is not None and now + min(retry_after, config.max_cooldown) > now
            assert (after is Phase.OPEN) == (before is not Phase.CLOSED or state.failures >= threshold or asked)
            if after is Phase.OPEN and before is Phase.CLOSED and state.failures < threshold:
                assert state.opened_until == now + min(retry_after, config.max_cooldown)  # type: ignore[type-var]
            elif after is Phase.OPEN:
                assert now + config.cooldown <= state.opened_until <= now + config.max_cooldown + 1e-6 or (
                    before is Phase.OPEN
                )
        elif kind == "ok":
            streak = state.failures
            state = record_success(state, now)
            assert phase(state, now) is Phase.CLOSED and state.failures == 0 and state.suspended == streak
        else:
            allowed, new = claim_trial(state, now, config)
            assert allowed == (before is Phase.CLOSED or (before is Phase.HALF_OPEN and state.trial_until <= now))
            state = new
        assert state.failures >= 0
        assert (state.opened_until == 0) == (phase(state, now) is Phase.CLOSED)
