"""Fallback semantics end to end: two HTTP providers for one model, each behind its own
loopback server, plus the same through the real CLI with Aivvm and a pip-installed backup.

Before the first chunk a fault of the provider (5xx, 429, network) hands over to the next
candidate and the caller is told (``FallbackWarning``, ``Completion.attempts``); a refused
request (400) does not; after the first chunk nothing is switched (``StreamInterrupted``)
and the second server never sees a request.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
from support import clean_env, run_cli

from provider_core import (
    FallbackWarning,
    NoProviderAvailable,
    ProviderConnectionError,
    ProviderHTTPError,
    Registry,
    StreamInterrupted,
    create_completion,
)
from provider_core.testing.server import LoopbackServer, Reply

from .conftest import provider_for

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def pair(servers: Callable[..., LoopbackServer]) -> tuple[Registry, LoopbackServer, LoopbackServer]:
    """``First`` (priority 10) and ``Second`` (priority 0) both serve ``rel-model``."""
    first, second = servers(), servers()
    registry = Registry(load_entry_points=False)
    registry.register(provider_for(first.url + "/v1", name="First", priority=10))
    registry.register(provider_for(second.url + "/v1", name="Second"))
    return registry, first, second


def _run(registry: Registry, stream: bool = True, **options: Any) -> tuple[Any, list[str], list[str], Any]:
    """(completion or text, chunks, fallback warnings, error)."""
    chunks: list[str] = []
    error = None
    result: Any = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = create_completion("rel-model", MESSAGES, stream=stream, registry=registry, **options)
            if stream:
                for chunk in result:
                    chunks.append(chunk)
            else:
                chunks.append(result)
        except Exception as exc:
            error = exc
    said = [str(w.message) for w in caught if issubclass(w.category, FallbackWarning)]
    return result, chunks, said, error


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_provider_fault_before_first_chunk_falls_back_and_says_so(pair: Any, status: int) -> None:
    registry, first, second = pair
    first.enqueue(Reply(status, body="busy", headers={"Retry-After": "7"}))
    second.enqueue(Reply(body=["from ", "second"]))
    completion, chunks, said, error = _run(registry)
    assert error is None and "".join(chunks) == "from second"
    assert completion.provider == "Second"
    [attempt] = completion.attempts
    assert attempt.provider == "First"
    assert isinstance(attempt.error, ProviderHTTPError) and attempt.error.status_code == status
    assert attempt.error.retry_after == 7.0
    assert said == [f"fell back to Second after: First: {attempt.reason}"]
    assert f"HTTP {status}" in said[0]
    assert (len(first.requests), len(second.requests)) == (1, 1)


def test_network_fault_before_first_chunk_falls_back(servers: Any, refused_url: str) -> None:
    second = servers()
    second.enqueue(Reply(body="second"))
    registry = Registry(load_entry_points=False)
    registry.register(provider_for(refused_url + "/v1", name="First", priority=10))
    registry.register(provider_for(second.url + "/v1", name="Second"))
    completion, chunks, said, error = _run(registry)
    assert error is None and chunks == ["second"]
    assert isinstance(completion.attempts[0].error, ProviderConnectionError)
    assert completion.attempts[0].error.kind == "refused"
    assert len(said) == 1 and "connection refused" in said[0]


def test_whole_reply_falls_back_too(pair: Any) -> None:
    registry, first, second = pair
    first.enqueue(Reply(503, body="busy"))
    second.enqueue(Reply(body=["from ", "second"]))
    text, _, said, error = _run(registry, stream=False)
    assert (error, text, len(said)) == (None, "from second", 1)


def test_bad_request_does_not_fall_back(pair: Any) -> None:
    """A 400 is our request's fault: another provider would refuse it too."""
    registry, first, second = pair
    first.enqueue(Reply(400, body="messages[0].content: too long"))
    _, chunks, said, error = _run(registry)
    assert isinstance(error, ProviderHTTPError) and error.status_code == 400
    assert "messages[0].content: too long" in str(error)
    assert (chunks, said, len(second.requests)) == ([], [], 0)


@pytest.mark.parametrize(
    "fault",
    [
        Reply(body=["partial ", "rest"], reset_after=8, delay_between=0.2),
        Reply(body=["partial ", "rest"], close_after=8, delay_between=0.2),
        Reply(body=["partial ", "rest"], delay_between=20),
    ],
    ids=["reset", "truncated", "read-timeout"],
)
def test_fault_after_first_chunk_interrupts_without_switching(pair: Any, fault: Reply) -> None:
    registry, first, second = pair
    first.enqueue(fault)
    second.enqueue(Reply(body="must never be asked"))
    completion, chunks, said, error = _run(registry, timeout=0.5)
    assert isinstance(error, StreamInterrupted)
    assert chunks == ["partial "]
    assert (error.provider, error.received_chars, error.received_chunks) == ("First", 8, 1)
    assert completion.provider == "First" and completion.attempts == []
    assert (said, len(second.requests)) == ([], 0)


def test_whole_reply_interrupted_carries_the_partial_text(pair: Any) -> None:
    registry, first, second = pair
    first.enqueue(Reply(body=["partial ", "rest"], reset_after=8, delay_between=0.2))
    _, _, said, error = _run(registry, stream=False)
    assert isinstance(error, StreamInterrupted) and error.partial_text == "partial "
    assert (said, len(second.requests)) == ([], 0)


def test_every_candidate_failing_lists_each_with_why(pair: Any) -> None:
    registry, first, second = pair
    first.enqueue(Reply(503, body="first is down"))
    second.enqueue(Reply(429, body="second is rate limited"))
    _, chunks, said, error = _run(registry)
    assert isinstance(error, NoProviderAvailable) and chunks == [] and said == []
    assert [a.provider for a in error.attempts] == ["First", "Second"]
    text = str(error)
    assert "First: ProviderHTTPError: HTTP 503" in text and "first is down" in text
    assert "Second: ProviderHTTPError: HTTP 429" in text and "second is rate limited" in text
    assert error.__cause__ is error.attempts[-1].error


# -- the same through the CLI: Aivvm first, the pip-installed RelBackup second -------------------


def _cli(plugin_env: dict[str, str], base_url: str, *extra: str) -> Any:
    env = clean_env(**plugin_env, AIVVM_BASE_URL=base_url)
    return run_cli("chat", "-m", "gpt-3.5-turbo", "--include-not-working", *extra, "hi", env=env)


def test_cli_falls_back_before_the_first_chunk(plugin_env: dict[str, str], aivvm_server: Any) -> None:
    aivvm_server.script(status=503)
    result = _cli(plugin_env, aivvm_server.url)
    assert (result.code, result.stdout, result.error_lines) == (0, "backup answered\n", [])
    [line] = [line for line in result.stderr.splitlines() if "fell back" in line]
    assert line == (
        "warning: fell back to RelBackup after: Aivvm: ProviderHTTPError: HTTP 503 Service Unavailable from Aivvm "
        f"({aivvm_server.url}/api/chat): loopback Aivvm server: scripted status 503"
    )


def test_cli_does_not_switch_after_the_first_chunk(plugin_env: dict[str, str], aivvm_server: Any) -> None:
    aivvm_server.script(chunks=["Hello, ", "world"], reset_after=7, delay_between=0.2)
    result = _cli(plugin_env, aivvm_server.url)
    assert (result.code, result.stdout) == (1, "Hello, \n")
    assert "backup" not in result.stdout and "fell back" not in result.stderr
    [line] = result.error_lines
    assert line.startswith("error: Aivvm stopped after 7 characters")


def test_cli_bad_request_does_not_fall_back(plugin_env: dict[str, str], aivvm_server: Any) -> None:
    aivvm_server.script(status=400)
    result = _cli(plugin_env, aivvm_server.url)
    assert (result.code, result.stdout) == (1, "")
    assert result.error_lines == [
        f"error: HTTP 400 Bad Request from Aivvm ({aivvm_server.url}/api/chat): "
        "loopback Aivvm server: scripted status 400"
    ]
