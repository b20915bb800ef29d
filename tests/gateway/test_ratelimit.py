"""Rate limits per API key: the bucket arithmetic, the keys file, 429s in OpenAI's shape
through the official client, per-key overrides, tokens counted after the reply, limits
shared through a real Redis by two gateways (two instances), the Lua script against the
Python functions, and Redis down (in-process limits, one warning, no failed request)."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import wait_for

from provider_core.gateway.config import ConfigError, GatewayConfig
from provider_core.gateway.keys import KeyEntry, key_id
from provider_core.gateway.ratelimit import BucketState, Limits, MemoryBuckets, admit, charge
from provider_core.testing.server import free_port

KEY_A = "sk-limits-aaaaaaaaaaaa"
KEY_B = "sk-limits-bbbbbbbbbbbb"
T0 = 1_800_000_000.0


def ask(client: Any, prompt: str = "hello there", model: str = "echo-1", stream: bool = False) -> Any:
    messages = [{"role": "user", "content": prompt}]
    reply = client.chat.completions.create(model=model, messages=messages, stream=stream)
    return "".join(c.choices[0].delta.content or "" for c in reply if c.choices) if stream else reply


# -- the arithmetic --------------------------------------------------------------------------


def test_requests_burst_up_to_the_limit_then_one_every_60_over_rpm_seconds():
    buckets, limits = MemoryBuckets(), Limits(rpm=3)
    assert [buckets.admit("k", limits, T0) for _ in range(3)] == [(None, 0.0)] * 3
    refused, wait = buckets.admit("k", limits, T0)
    assert refused == "requests" and wait == pytest.approx(20.0)
    assert buckets.admit("k", limits, T0 + 19.0)[0] == "requests"
    assert buckets.admit("k", limits, T0 + 20.0) == (None, 0.0)
    assert buckets.admit("other", limits, T0)[0] is None  # every key has its own


def test_tokens_are_taken_after_the_reply_down_to_a_minute_of_debt():
    state, limits = BucketState(), Limits(tpm=600)
    new, refused, _ = admit(state, limits, T0)
    assert new is not None and refused is None
    state = charge(new, limits, 5_000, T0)  # a reply far over the limit
    assert state.tokens == -600.0  # floored at one minute's worth
    _, refused, wait = admit(state, limits, T0)
    assert refused == "tokens" and wait == pytest.approx(60.0)
    _, refused, wait = admit(state, limits, T0 + 30)
    assert refused == "tokens" and wait == pytest.approx(30.0)
    assert admit(state, limits, T0 + 60.5)[1] is None


def test_a_limit_of_zero_is_no_limit():
    assert admit(BucketState(), Limits(0, 0), T0) == (BucketState(0.0, T0, 0.0, T0), None, 0.0)
    assert charge(BucketState(), Limits(rpm=5), 10**9, T0) == BucketState()


# -- the keys file ---------------------------------------------------------------------------


def test_keys_files_in_toml_json_and_lines(tmp_path):
    toml = tmp_path / "keys.toml"
    toml.write_text(f'[[keys]]\nkey = "{KEY_A}"\nid = "team-a"\nrpm = 5\n\n[[keys]]\nkey = "{KEY_B}"\ntpm = 0\n')
    config = GatewayConfig.from_env({"PROVIDER_CORE_API_KEYS_FILE": str(toml), "PROVIDER_CORE_RATE_LIMIT_TPM": "9"})
    assert config.api_keys == (KEY_A, KEY_B)
    assert config.entries() == (KeyEntry(KEY_A, "team-a", 5, None), KeyEntry(KEY_B, key_id(KEY_B), None, 0))
    assert key_id(KEY_B).startswith("key-") and len(key_id(KEY_B)) == 12 and KEY_B not in key_id(KEY_B)
    assert KEY_A not in repr(config) and KEY_A not in repr(config.entries())
    as_json = tmp_path / "keys.json"
    as_json.write_text(json.dumps({"keys": [{"key": KEY_A, "rpm": 1}]}))
    assert GatewayConfig.from_env({"PROVIDER_CORE_API_KEYS_FILE": str(as_json)}).entries()[0].rpm == 1
    as_json.write_text(json.dumps([{"key": KEY_B}]))
    assert GatewayConfig.from_env({"PROVIDER_CORE_API_KEYS_FILE": str(as_json)}).api_keys == (KEY_B,)
    lines = tmp_path / "keys"
    lines.write_text(f"# a comment\n{KEY_A}\n\n{KEY_B}\n")
    both = GatewayConfig.from_env({"PROVIDER_CORE_API_KEYS_FILE": str(lines), "PROVIDER_CORE_API_KEYS": KEY_A})
    assert both.api_keys == (KEY_A, KEY_B)


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("k.toml", '[[keys]]\nkey = "sk-x"\nrpm = -1\n', "rpm must be a whole number"),
        ("k.toml", '[[keys]]\nkey = "sk-x"\nburst = 3\n', "unknown field(s) burst"),
        ("k.toml", "[[keys]\n", "not valid TOML"),
        ("k.json", '{"keys": [{"id": "no key"}]}', "'key' must be a non-empty string"),
        ("k.json", '{"keys": []}', "holds no key"),
        ("k.json", "{", "not valid JSON"),
    ],
)
def test_a_bad_keys_file_is_one_error_naming_the_file(tmp_path, name, text, needle):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        GatewayConfig.from_env({"PROVIDER_CORE_API_KEYS_FILE": str(path)})
    assert needle in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize(
    ("name", "field"),
    [("PROVIDER_CORE_RATE_LIMIT_RPM", "rate_limit_rpm"), ("PROVIDER_CORE_RATE_LIMIT_TPM", "rate_limit_tpm")],
)
def test_limits_are_whole_numbers(name, field):
    assert getattr(GatewayConfig.from_env({name: "7"}), field) == 7
    assert not GatewayConfig.from_env({name: "0"}).rate_limited
    for bad in ("lots", "-1", "1.5"):
        with pytest.raises(ConfigError, match=name):
            GatewayConfig.from_env({name: bad})


# -- through the gateway -----------------------------------------------------------------------


def test_a_key_over_its_requests_per_minute_gets_a_429_in_openais_shape(helpers):
    config = GatewayConfig(api_keys=(KEY_A, KEY_B), rate_limit_rpm=2)
    with helpers.running(config=config) as gw:
        with helpers.openai_client(gw, api_key=KEY_A) as a, helpers.openai_client(gw, api_key=KEY_B) as b:
            ask(a)
            assert ask(a, stream=True) == "hello there"
            with pytest.raises(openai.RateLimitError) as info:
                ask(a)
            ask(b)  # another key has its own budget
        error = info.value
        assert error.status_code == 429
        assert error.body["code"] == "rate_limit_exceeded" and error.body["type"] == "requests"
        assert 1 <= int(error.response.headers["retry-after"]) <= 60
        assert key_id(KEY_A) in error.body["message"] and KEY_A not in error.response.text
        with httpx.Client(timeout=30) as http:  # the probes are never limited
            assert all(http.get(gw.url + path).status_code == 200 for path in ("/healthz", "/readyz") * 3)


def test_per_key_limits_from_the_keys_file(helpers, tmp_path):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps([{"key": KEY_A, "id": "tight", "rpm": 1}, {"key": KEY_B, "rpm": 0}]))
    config = GatewayConfig.from_env({"PROVIDER_CORE_API_KEYS_FILE": str(path), "PROVIDER_CORE_RATE_LIMIT_RPM": "2"})
    with (
        helpers.running(config=config) as gw,
        helpers.openai_client(gw, api_key=KEY_A) as a,
        helpers.openai_client(gw, api_key=KEY_B) as b,
    ):
        ask(a)
        with pytest.raises(openai.RateLimitError) as info:
            ask(a)
        assert "for tight" in info.value.body["message"]
        for _ in range(5):  # rpm = 0: no limit for this key, whatever the default
            ask(b)


def test_without_keys_every_caller_shares_one_budget(helpers):
    with (
        helpers.running(config=GatewayConfig(rate_limit_rpm=1)) as gw,
        helpers.openai_client(gw) as first,
        helpers.openai_client(gw, api_key="anything") as second,
    ):
        ask(first)
        with pytest.raises(openai.RateLimitError) as info:
            ask(second)
    assert "for all" in info.value.body["message"]


@pytest.mark.parametrize("stream", [False, True])
def test_tokens_per_minute_count_the_reply_after_it(helpers, stream):
    config = GatewayConfig(api_keys=(KEY_A,), rate_limit_tpm=5)
    with helpers.running(config=config) as gw, helpers.openai_client(gw, api_key=KEY_A) as client:
        ask(client, "a prompt of some forty characters or so", stream=stream)  # admitted: none counted yet
        with pytest.raises(openai.RateLimitError) as info:
            ask(client, stream=stream)
    assert info.value.body["type"] == "tokens" and "tokens per minute (limit 5)" in info.value.body["message"]


# -- shared through Redis --------------------------------------------------------------------


def two_gateways(helpers: Any, monkeypatch: Any, url: str, prefix: str, config: GatewayConfig) -> list[Any]:
    """Two apps over two registries, as two instances would be, sharing ``url``."""
    from provider_core.gateway.app import create_app

    monkeypatch.setenv("PROVIDER_CORE_REDIS_URL", url)
    monkeypatch.setenv("PROVIDER_CORE_REDIS_PREFIX", prefix)
    monkeypatch.setenv("PROVIDER_CORE_REDIS_TIMEOUT", "2")
    apps = [create_app(helpers.make_registry(), config) for _ in range(2)]
    monkeypatch.delenv("PROVIDER_CORE_REDIS_URL")
    return [helpers.ThreadedServer(app).start() for app in apps]


def test_two_instances_share_a_keys_limit_through_redis(helpers, monkeypatch, redis_url):
    import redis

    prefix = f"pctest-{uuid.uuid4().hex[:10]}"
    servers = two_gateways(helpers, monkeypatch, redis_url, prefix, GatewayConfig(api_keys=(KEY_A,), rate_limit_rpm=3))
    try:
        clients = [helpers.openai_client(s, api_key=KEY_A) for s in servers]
        ask(clients[0])
        ask(clients[1])
        ask(clients[0])
        for client in clients:  # three in all: both instances refuse the fourth
            with pytest.raises(openai.RateLimitError):
                ask(client)
        entry = redis.Redis.from_url(redis_url, decode_responses=True).hgetall(f"{prefix}:ratelimit:{key_id(KEY_A)}")
        assert float(entry["requests"]) < 1 and set(entry) == {"requests", "requests_at", "tokens", "tokens_at"}
    finally:
        for server in servers:
            server.stop()


def test_redis_down_keeps_limits_in_the_process_with_one_warning(helpers, monkeypatch, redis_servers, caplog):
    server = redis_servers()
    prefix = f"pctest-{uuid.uuid4().hex[:10]}"
    gateways = two_gateways(helpers, monkeypatch, server.url, prefix, GatewayConfig(rate_limit_rpm=2))
    caplog.set_level(logging.WARNING, logger="provider_core.gateway")
    try:
        gw = gateways[0]
        limiter = gw.app.state.gateway.ops.limiter
        with helpers.openai_client(gw) as client:
            ask(client)
            server.kill()
            ask(client)  # Redis is gone: served all the same, counted afresh in the process
            ask(client)
            with pytest.raises(openai.RateLimitError):
                ask(client)
            assert limiter.shared.degraded is not None
            warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
            assert len(warnings) == 1 and "redis://127.0.0.1" in warnings[0].getMessage()
            server.start()
            assert wait_for(lambda: limiter.shared.degraded is None), "Redis back in use"
            assert any("reachable again" in r.getMessage() for r in caplog.records)
    finally:
        for running in gateways:
            running.stop()


def test_an_unreachable_redis_from_the_start_fails_no_request(helpers, monkeypatch):
    refused = f"redis://127.0.0.1:{free_port()}/0"
    gateways = two_gateways(helpers, monkeypatch, refused, "pctest-none", GatewayConfig(rate_limit_rpm=50))
    try:
        with helpers.openai_client(gateways[0]) as client:
            for _ in range(3):
                ask(client)
    finally:
        for running in gateways:
            running.stop()


OPS = st.lists(
    st.tuples(
        st.sampled_from(["admit", "charge"]),
        st.floats(0, 90, allow_nan=False),  # seconds since the previous step
        st.integers(0, 3000),  # tokens of a charge
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, rpm=st.integers(0, 7), tpm=st.integers(0, 2000))
def test_the_lua_script_is_the_python_arithmetic(redis_url, ops, rpm, tpm):
    import redis

    from provider_core.gateway.ratelimit_redis import RETENTION_MS, SCRIPT

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    script = client.register_script(SCRIPT)
    key = f"pctest-lua-{uuid.uuid4().hex}"
    state, limits, now = BucketState(), Limits(rpm, tpm), T0
    try:
        for op, dt, tokens in ops:
            now += dt
            args = [op, repr(now), str(rpm), str(tpm), str(tokens), str(RETENTION_MS)]
            admitted, kind, wait = script(keys=[key], args=args)
            if op == "charge":
                state = charge(state, limits, tokens, now)
            else:
                new, refused, expected_wait = admit(state, limits, now)
                assert (bool(int(admitted)), kind or None) == (new is not None, refused)
                assert float(wait) == expected_wait
                state = new or state
            stored = client.hgetall(key)
            if stored:
                fields = ("requests", "requests_at", "tokens", "tokens_at")
                assert BucketState(*(float(stored[f]) for f in fields)) == state
    finally:
        client.delete(key)
        client.close()
