"""The Lua transitions run by Redis are the pure Python ones of ``health/state.py``: for
any sequence of events (faults with or without a Retry-After, breaks after the first chunk,
successes, trial claims, resets) at any times, on several circuits, every step returns the
same old and new state (and claim decision) and Redis ends up holding exactly the circuits
the Python functions give, bit for bit."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from provider_core.health import BreakerConfig, CircuitState
from provider_core.health.backends import MemoryBackend
from provider_core.health.redis_backend import RedisBackend
from provider_core.health.state import CLOSED_STATE, Change, claim_trial, record_failure, record_success

pytest.importorskip("redis", reason="redis-py is not installed (pip install 'provider-core[redis]')")

# opaque keys: today's provider names, tomorrow's (provider, model) pairs, and anything else
KEYS = ("openai", "openai|gpt-4o", "a:b:c", "ключ 🔑")
KINDS = ("failure", "failure", "midstream", "success", "success", "claim", "claim", "reset")
WAITS = st.one_of(
    st.sampled_from([0.0, 0.5, 5.0, 10.0, 30.0, 60.0]),  # lands exactly on cooldown and trial boundaries
    st.floats(min_value=0, max_value=100, allow_nan=False, allow_infinity=False),
    st.floats(min_value=0, max_value=5000, allow_nan=False, allow_infinity=False),
)
RETRY_AFTER = st.one_of(st.none(), st.none(), st.floats(), st.integers(min_value=-5, max_value=10**7))
ERRORS = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=400)  # past the 300 kept


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, str, float, float | None, str]]:
    """Events on one to three of KEYS (few keys, so long histories build up on each)."""
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=3, unique=True))
    event = st.tuples(st.sampled_from(KINDS), st.sampled_from(keys), WAITS, RETRY_AFTER, ERRORS)
    length = draw(st.integers(0, 40))  # uniform: lists alone are mostly short
    return draw(st.lists(event, min_size=length, max_size=length))


CONFIGS = st.builds(
    lambda failures, cooldown, extra, trial: BreakerConfig(failures, cooldown, cooldown + extra, trial),
    st.integers(1, 4),
    st.sampled_from([0.5, 10.0, 60.0]),
    st.sampled_from([0.0, 100.0, 3600.0]),
    st.sampled_from([5.0, 30.0, 60.0]),
)


@pytest.fixture(scope="module")
def pair(redis_url):
    """A Redis backend that applies the transitions, and another that only reads Redis."""
    prefix = f"pctest-lua-{uuid.uuid4().hex[:10]}"
    writer = RedisBackend(redis_url, prefix=prefix, sync_interval=3600)
    reader = RedisBackend(redis_url, prefix=prefix, sync_interval=3600)
    yield writer, reader
    writer.clear()
    writer.close()
    reader.close()


def python_step(state: CircuitState, kind: str, now: float, config: BreakerConfig, error: str, retry_after):
    """(granted, new) by the pure functions."""
    if kind in ("failure", "midstream"):
        return True, record_failure(state, now, config, error, retry_after, midstream=kind == "midstream")
    if kind == "success":
        return True, record_success(state, now)
    if kind == "claim":
        return claim_trial(state, now, config)
    return True, CLOSED_STATE


def backend_step(backend, kind: str, key: str, now: float, config: BreakerConfig, error: str, retry_after):
    if kind in ("failure", "midstream"):
        return backend.failure(key, now, config, error, retry_after, kind == "midstream")
    if kind == "success":
        return backend.success(key, now)
    if kind == "claim":
        return backend.claim(key, now, config)
    return backend.reset(key)


# the corners, always tried: a stream breaking after the success that ended its streak; a
# claim at the very moment the previous claim lapses; a Retry-After past the cap
_TWO = BreakerConfig(2, 10.0, 100.0, 5.0)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config=CONFIGS, events=histories())
@example(_TWO, [(k, "openai", 0.0, None, "e") for k in ("failure", "failure", "success", "midstream")])
@example(
    _TWO,
    [("failure", "openai", 0.0, 30.0, "429"), ("claim", "openai", 30.0, None, ""), ("claim", "openai", 5.0, None, "")],
)
@example(_TWO, [("failure", "openai", 0.0, 1e9, "429"), ("failure", "openai", 0.0, float("inf"), "")])
def test_the_lua_transitions_are_the_python_ones(pair, config, events):
    writer, reader = pair
    writer.clear()
    memory = MemoryBackend()
    expected: dict[str, CircuitState] = {}
    now = 1_800_000_000.0
    for kind, key, wait, retry_after, error in events:
        now += wait
        old = expected.get(key, CLOSED_STATE)
        granted, new = python_step(old, kind, now, config, error, retry_after)
        in_redis = backend_step(writer, kind, key, now, config, error, retry_after)
        assert in_redis == Change(old, new, granted), (kind, key)
        assert backend_step(memory, kind, key, now, config, error, retry_after) == Change(old, new, granted)
        if new.clean:
            expected.pop(key, None)
        else:
            expected[key] = new
    assert writer.degraded is None and writer.pending == 0
    assert reader.refresh()
    assert reader.items() == expected, "what Redis holds, key by key"
    assert memory.items() == expected
