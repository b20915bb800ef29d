"""Keywords and environment: base_url precedence, proxy, timeout, and one pooled session."""

from __future__ import annotations

import math

import pytest
from provider_aivvm import Aivvm
from provider_aivvm.provider import build_request

from provider_core.errors import InvalidMessages
from provider_core.testing.server import LoopbackServer, Reply

USER = [{"role": "user", "content": "Hello"}]


# -- base URL: keyword, else AIVVM_BASE_URL, else the site ---------------------------------


def test_default_base_url(monkeypatch) -> None:
    monkeypatch.delenv("AIVVM_BASE_URL", raising=False)
    assert build_request("gpt-4", USER).url == "https://chat.aivvm.com/api/chat"


def test_empty_environment_variable_means_the_default(monkeypatch) -> None:
    monkeypatch.setenv("AIVVM_BASE_URL", "  ")
    assert build_request("gpt-4", USER).url == "https://chat.aivvm.com/api/chat"


def test_environment_variable_is_used(aivvm_server, monkeypatch) -> None:
    monkeypatch.setenv("AIVVM_BASE_URL", aivvm_server.url + "/")
    assert list(Aivvm.create_completion("gpt-4", USER, True)) == ["Hello"]
    assert aivvm_server.requests[0].headers["origin"] == aivvm_server.url


def test_keyword_beats_the_environment_variable(aivvm_server, monkeypatch) -> None:
    monkeypatch.setenv("AIVVM_BASE_URL", "http://aivvm-env.invalid")
    assert list(Aivvm.create_completion("gpt-4", USER, True, base_url=aivvm_server.url)) == ["Hello"]
    assert len(aivvm_server.requests) == 1


def test_base_url_with_a_path_prefix(monkeypatch) -> None:
    monkeypatch.setenv("AIVVM_BASE_URL", "http://mirror.invalid:8080/aivvm/")
    request = build_request("gpt-4", USER)
    assert request.url == "http://mirror.invalid:8080/aivvm/api/chat"
    assert request.headers["origin"] == "http://mirror.invalid:8080"


@pytest.mark.parametrize("bad", ["chat.aivvm.com", "ftp://chat.aivvm.com", "http://", "http://h/?q=1", "/api"])
def test_bad_base_url_keyword(bad: str) -> None:
    with pytest.raises(InvalidMessages) as info:
        Aivvm.create_completion("gpt-4", USER, True, base_url=bad)
    assert info.value.errors[0][0] == "base_url"


def test_bad_base_url_environment_variable_is_named(monkeypatch) -> None:
    monkeypatch.setenv("AIVVM_BASE_URL", "localhost:8765")
    with pytest.raises(InvalidMessages) as info:
        Aivvm.create_completion("gpt-4", USER, True)
    assert info.value.errors[0][0] == "AIVVM_BASE_URL"
    assert "localhost:8765" in str(info.value)


# -- proxy ---------------------------------------------------------------------------------


def test_proxy_keyword_sends_the_request_through_the_proxy() -> None:
    """A loopback server plays the HTTP proxy: it receives the absolute URL of a host that
    does not even resolve, which proves the request went through it."""
    with LoopbackServer() as proxy:
        proxy.enqueue(Reply.text("via the proxy", chunk_size=4))
        out = Aivvm.create_completion(
            "gpt-4", USER, True, base_url="http://aivvm-upstream.invalid", proxy=proxy.url, timeout=5
        )
        assert "".join(out) == "via the proxy"
        (request,) = proxy.requests
    assert request.method == "POST"
    assert request.path == "http://aivvm-upstream.invalid/api/chat"
    assert request.headers["host"] == "aivvm-upstream.invalid"
    assert request.json["model"] == {"id": "gpt-4", "name": "GPT-4"}


@pytest.mark.parametrize("none", ["", None])
def test_empty_proxy_means_none(none) -> None:
    assert build_request("gpt-4", USER, proxy=none).proxy is None


@pytest.mark.parametrize("bad", ["127.0.0.1:3128", "localhost:3128", "http://", 3128])
def test_bad_proxy(bad) -> None:
    with pytest.raises(InvalidMessages, match="proxy"):
        build_request("gpt-4", USER, proxy=bad)


# -- timeout -------------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "pair"), [(None, (10.0, 120.0)), (3, (3.0, 3.0)), ((1, 2.5), (1.0, 2.5))])
def test_timeout(given, pair) -> None:
    assert build_request("gpt-4", USER, timeout=given).timeout == pair


@pytest.mark.parametrize("bad", [0, -1, math.inf, "5", (1, 2, 3), (1, None), True])
def test_bad_timeout_is_refused_before_sending(aivvm_server, bad) -> None:
    with pytest.raises(InvalidMessages, match="timeout"):
        Aivvm.create_completion("gpt-4", USER, True, base_url=aivvm_server.url, timeout=bad)
    assert aivvm_server.requests == []


# -- one pooled session ---------------------------------------------------------------------


def test_sequential_requests_share_one_connection(aivvm_server) -> None:
    for i in range(5):
        messages = [{"role": "user", "content": f"request {i}"}]
        stream = i % 2 == 0
        assert "".join(Aivvm.create_completion("gpt-4", messages, stream, base_url=aivvm_server.url)) == f"request {i}"
    assert [r.connection for r in aivvm_server.requests] == [1] * 5
    assert aivvm_server.connections == 1


def test_an_http_error_does_not_leak_the_connection(aivvm_server) -> None:
    from provider_core.errors import ProviderHTTPError

    aivvm_server.script(status=500, body="boom")
    with pytest.raises(ProviderHTTPError):
        list(Aivvm.create_completion("gpt-4", USER, True, base_url=aivvm_server.url))
    for _ in range(3):
        assert list(Aivvm.create_completion("gpt-4", USER, True, base_url=aivvm_server.url)) == ["Hello"]
    assert aivvm_server.connections <= 2
