"""Every failure is a typed ProviderError that says what and where, and no text is lost."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import requests
from provider_aivvm import Aivvm

from provider_core.completion import create_completion
from provider_core.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderNotWorkingWarning,
    ProviderTimeout,
    StreamInterrupted,
)
from provider_core.registry import Registry
from provider_core.testing.server import refused_url

USER = [{"role": "user", "content": "Hello"}]


def call(url: str, stream: bool = True, **kwargs) -> Iterator[str]:
    kwargs.setdefault("timeout", (5, 10))
    return Aivvm.create_completion("gpt-4", USER, stream, base_url=url, **kwargs)


def whole(url: str, **kwargs) -> tuple[str | None, BaseException | None]:
    """A non-streamed reply through the core (which joins the chunks): the text, or what
    was raised."""
    kwargs.setdefault("timeout", (5, 10))
    registry = Registry(load_entry_points=False)
    registry.register(Aivvm)
    try:
        with pytest.warns(ProviderNotWorkingWarning):
            return create_completion(
                "gpt-4", USER, stream=False, provider="Aivvm", registry=registry, base_url=url, **kwargs
            ), None
    except ProviderError as exc:
        return None, exc


def collect(it: Iterator[str]) -> tuple[list[str], BaseException | None]:
    """The chunks received before the iterator raised, and what it raised."""
    got: list[str] = []
    try:
        for chunk in it:
            got.append(chunk)
    except Exception as exc:
        return got, exc
    return got, None


@pytest.fixture
def registry() -> Registry:
    registry = Registry(load_entry_points=False)
    registry.register(Aivvm)
    return registry


# -- HTTP error statuses -------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 502, 503])
def test_http_error_status(aivvm_server, status: int) -> None:
    aivvm_server.script(status=status, body="upstream says: quota exhausted for this key")
    with pytest.raises(ProviderHTTPError) as info:
        list(call(aivvm_server.url))
    error = info.value
    assert isinstance(error, requests.HTTPError) and isinstance(error, ProviderError)
    assert error.status_code == status
    assert error.provider == "Aivvm"
    assert error.body_excerpt == "upstream says: quota exhausted for this key"
    assert f"HTTP {status}" in str(error) and "Aivvm" in str(error) and "/api/chat" in str(error)


def test_http_error_body_excerpt_is_short(aivvm_server) -> None:
    aivvm_server.script(status=500, body="x" * 100_000)
    with pytest.raises(ProviderHTTPError) as info:
        list(call(aivvm_server.url))
    assert 0 < len(info.value.body_excerpt) <= 210
    assert len(str(info.value)) < 400


def test_http_error_on_a_wrong_path(aivvm_server) -> None:
    with pytest.raises(ProviderHTTPError) as info:
        list(call(aivvm_server.url + "/v1"))
    assert info.value.status_code == 404
    assert "/v1/api/chat" in info.value.body_excerpt


def test_http_error_with_stream_false(aivvm_server) -> None:
    aivvm_server.script(status=502)
    with pytest.raises(ProviderHTTPError) as info:
        list(call(aivvm_server.url, stream=False))
    assert info.value.status_code == 502


# -- network faults before any byte -------------------------------------------------------


def test_connection_refused() -> None:
    url = refused_url()
    with pytest.raises(ProviderConnectionError) as info:
        list(call(url))
    assert not isinstance(info.value, ProviderTimeout)
    assert info.value.kind == "refused"
    assert info.value.provider == "Aivvm"
    assert info.value.url == url + "/api/chat"
    assert "refused" in str(info.value) and url in str(info.value)


def test_unresolvable_host() -> None:
    url = "http://aivvm-test-host.invalid"
    with pytest.raises(ProviderConnectionError) as info:
        list(call(url))
    assert info.value.kind == "dns"
    assert "resolved" in str(info.value) and "aivvm-test-host.invalid" in str(info.value)


def test_connect_timeout() -> None:
    """A listening socket whose backlog is full and never accepted: SYNs go unanswered."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        try:
            for _ in range(4):
                filler = socket.socket()
                filler.setblocking(False)
                try:
                    filler.connect(("127.0.0.1", port))
                except BlockingIOError:
                    pass
                fillers.append(filler)
            time.sleep(0.1)
            with pytest.raises(ProviderTimeout) as info:
                list(call(f"http://127.0.0.1:{port}", timeout=(0.5, 5)))
        finally:
            for filler in fillers:
                filler.close()
    assert info.value.kind == "connect-timeout"
    assert "timed out connecting" in str(info.value) and "after 0.5s" in str(info.value)
    assert f"127.0.0.1:{port}" in str(info.value)


def test_read_timeout_before_the_first_byte(aivvm_server) -> None:
    aivvm_server.script("late", delay_before=5)
    with pytest.raises(ProviderTimeout) as info:
        list(call(aivvm_server.url, timeout=(5, 0.3)))
    assert info.value.kind == "read-timeout"
    assert "timed out waiting for data" in str(info.value) and "after 0.3s" in str(info.value)


def test_reset_before_the_first_byte_of_the_body(aivvm_server) -> None:
    aivvm_server.script("never sent", reset_after=0)
    with pytest.raises(ProviderConnectionError) as info:
        list(call(aivvm_server.url))
    assert info.value.kind == "reset"
    assert info.value.fallback_ok


# -- faults after some text --------------------------------------------------------------


def test_reset_mid_stream(aivvm_server) -> None:
    aivvm_server.script("Hello, world", chunk_size=4, reset_after=6, delay_between=0.05)
    got, error = collect(call(aivvm_server.url))
    assert "".join(got) == "Hello,"
    assert isinstance(error, StreamInterrupted)
    assert error.received_bytes == 6
    assert "reset" in str(error) and "6 bytes" in str(error)
    assert aivvm_server.requests[0].outcome == "reset"


def test_reset_mid_stream_with_stream_false_keeps_the_partial_text(aivvm_server) -> None:
    aivvm_server.script("Привет, мир", chunk_size=4, reset_after=8, delay_between=0.05)
    got, error = whole(aivvm_server.url)
    assert got is None
    assert isinstance(error, StreamInterrupted)
    assert error.partial_text == "Прив"
    assert error.received_chars == 4


def test_a_character_cut_by_the_fault_is_not_invented(aivvm_server) -> None:
    """The fault comes after 3 bytes: the 2 of "Ж" and the first of the next letter. The
    partial text is "Ж"; the dangling byte is counted in received_bytes but is no character."""
    aivvm_server.script("Жук", chunk_size=1, reset_after=3)
    _, error = whole(aivvm_server.url)
    assert isinstance(error, StreamInterrupted)
    assert error.partial_text == "Ж"
    assert error.received_bytes == 3


@pytest.mark.parametrize("framing", ["chunked", "length"])
def test_truncated_body(aivvm_server, framing: str) -> None:
    aivvm_server.script("truncated reply", chunk_size=5, close_after=9, framing=framing, delay_between=0.05)
    got, error = collect(call(aivvm_server.url))
    assert "".join(got) == "truncated"
    assert isinstance(error, StreamInterrupted)
    assert aivvm_server.requests[0].outcome == "closed"


def test_read_timeout_mid_stream(aivvm_server) -> None:
    aivvm_server.script(chunks=["part one ", "never in time"], delay_between=5)
    got, error = collect(call(aivvm_server.url, timeout=(5, 0.3)))
    assert got == ["part one "]
    assert isinstance(error, StreamInterrupted)
    assert "timed out" in str(error)


def test_read_timeout_mid_stream_with_stream_false(aivvm_server) -> None:
    aivvm_server.script(chunks=["part one ", "never in time"], delay_between=5)
    got, error = whole(aivvm_server.url, timeout=(5, 0.3))
    assert got is None
    assert isinstance(error, StreamInterrupted)
    assert error.partial_text == "part one "


# -- the same faults through provider_core.create_completion ------------------------------


def test_routed_stream_false_keeps_the_partial_text(aivvm_server, registry) -> None:
    aivvm_server.script("Hello, world", chunk_size=4, reset_after=6, delay_between=0.05)
    with pytest.warns(ProviderNotWorkingWarning), pytest.raises(StreamInterrupted) as info:
        create_completion(
            "gpt-4", USER, stream=False, provider="Aivvm", registry=registry, base_url=aivvm_server.url, timeout=5
        )
    assert info.value.partial_text == "Hello,"


def test_routed_stream_reports_what_arrived(aivvm_server, registry) -> None:
    aivvm_server.script("Hello, world", chunk_size=4, reset_after=6, delay_between=0.05)
    with pytest.warns(ProviderNotWorkingWarning):
        completion = create_completion(
            "gpt-4", USER, stream=True, provider="Aivvm", registry=registry, base_url=aivvm_server.url, timeout=5
        )
    got, error = collect(completion)
    assert "".join(got) == "Hello,"
    assert isinstance(error, StreamInterrupted)
    assert error.received_chars == 6


def test_routed_http_error_keeps_its_type(aivvm_server, registry) -> None:
    aivvm_server.script(status=503, body="busy")
    with pytest.warns(ProviderNotWorkingWarning), pytest.raises(ProviderHTTPError) as info:
        create_completion("gpt-4", USER, stream=False, provider="Aivvm", registry=registry, base_url=aivvm_server.url)
    assert info.value.status_code == 503


# -- early exit releases the connection ---------------------------------------------------


def test_closing_the_iterator_early_closes_the_response(aivvm_server) -> None:
    aivvm_server.script(chunks=["tick "] * 400, delay_between=0.02)
    it = call(aivvm_server.url)
    assert next(it) == "tick "
    it.close()
    (request,) = aivvm_server.wait_for_requests(1, timeout=20)
    assert request.outcome == "client-gone"
    assert request.body_bytes_sent < 400 * 5
    assert ask_again(aivvm_server) == "Hello"


def test_dropping_the_iterator_early_closes_the_response(aivvm_server) -> None:
    aivvm_server.script(chunks=["tick "] * 400, delay_between=0.02)
    it = call(aivvm_server.url)
    assert next(it) == "tick "
    del it
    (request,) = aivvm_server.wait_for_requests(1, timeout=20)
    assert request.outcome == "client-gone"


def test_routed_completion_closed_early(aivvm_server, registry) -> None:
    aivvm_server.script(chunks=["tick "] * 400, delay_between=0.02)
    with pytest.warns(ProviderNotWorkingWarning):
        completion = create_completion(
            "gpt-4", USER, provider="Aivvm", registry=registry, base_url=aivvm_server.url, timeout=5
        )
    with completion:
        assert next(completion) == "tick "
    (request,) = aivvm_server.wait_for_requests(1, timeout=20)
    assert request.outcome == "client-gone"


def ask_again(server) -> str:
    return "".join(call(server.url))
