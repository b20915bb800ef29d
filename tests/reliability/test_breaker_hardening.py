"""The circuit breaker under abuse: a caller who provokes faults, and a Redis URL that
cannot be used.

* A caller can make an upstream answer with nothing (a conversation of assistant turns
  only); that falls back like any empty reply but does not count against the provider, so
  one caller cannot open the circuit for everyone (docs/health.md says what counts).
* A malformed ``PROVIDER_CORE_REDIS_URL`` is one warning naming the variable; circuits then
  live in the process and still open.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from support import run_cli

from provider_core import EmptyResponse, NoProviderAvailable, ProviderHTTPError, Registry, create_completion
from provider_core.testing.server import RecordedRequest, Reply

from .conftest import provider_for


def empty_for_assistant_turns(request: RecordedRequest) -> Reply:
    """An upstream with nothing to say to a conversation that ends with an assistant turn."""
    last = request.json["messages"][-1]
    return Reply(200, body="" if last["role"] == "assistant" else "an answer")


def breaker_registry(url: str, environ: dict[str, str] | None = None) -> Registry:
    registry = Registry(load_entry_points=False, builtins=True, environ=environ or {})
    registry.register(provider_for(url, name="Upstream"))
    return registry


def test_a_caller_provoking_empty_replies_cannot_open_the_circuit(servers: Any) -> None:
    server = servers(empty_for_assistant_turns)
    registry = breaker_registry(server.url)
    assistant_only = [{"role": "assistant", "content": "I said this"}]
    for _ in range(5):
        with pytest.raises(EmptyResponse):
            list(create_completion("rel-model", assistant_only, registry=registry))
    user = [{"role": "user", "content": "hello"}]
    assert "".join(create_completion("rel-model", user, registry=registry)) == "an answer"
    assert registry.route("rel-model", stream=True)[0].name == "Upstream"


def test_upstream_faults_still_open_it(servers: Any) -> None:
    server = servers(lambda request: Reply(503, body="down"))
    registry = breaker_registry(server.url)
    user = [{"role": "user", "content": "hello"}]
    for _ in range(3):
        with pytest.raises(ProviderHTTPError):  # the 503 itself, as its typed error
            list(create_completion("rel-model", user, registry=registry))
    with pytest.raises(NoProviderAvailable, match="circuit for rel-model open until"):
        create_completion("rel-model", user, registry=registry)


@pytest.mark.parametrize("url", ["redis://127.0.0.1:99999/0", "redis://[::1", "http://127.0.0.1:6379/0"])
def test_a_malformed_redis_url_is_one_warning_and_circuits_stay_local(servers: Any, url: str) -> None:
    server = servers(lambda request: Reply(503, body="down"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registry = breaker_registry(server.url, {"PROVIDER_CORE_REDIS_URL": url})
        user = [{"role": "user", "content": "hello"}]
        for _ in range(3):
            with pytest.raises(ProviderHTTPError):
                list(create_completion("rel-model", user, registry=registry))
        with pytest.raises(NoProviderAvailable, match="circuit for rel-model open until"):
            create_completion("rel-model", user, registry=registry)
    texts = [str(w.message) for w in caught if "PROVIDER_CORE_REDIS_URL" in str(w.message)]
    assert len(texts) == 1, [str(w.message) for w in caught]
    assert "circuit state stays in this process" in texts[0]


def test_the_cli_with_a_malformed_redis_url_says_so_once(plugin_env: dict[str, str]) -> None:
    env = {
        **plugin_env,
        "PROVIDER_CORE_PLUGINS": "relfix_backup",
        "PROVIDER_CORE_REDIS_URL": "redis://:pa55word-in-url@[::1",
    }
    for args in (("providers",), ("probe", "RelBackup")):
        result = run_cli(*args, env=env)
        assert result.code == 0, result.stderr
        warned = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
        assert len(warned) == 1 and "PROVIDER_CORE_REDIS_URL is not a usable Redis URL" in warned[0], warned
        assert "pa55word" not in result.stderr and "internal error" not in result.stderr
