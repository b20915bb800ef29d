"""The small core additions this plugin needed, tested here: ``transport.request_json``
and ``parse_error``, ``ProviderHTTPError.error_type`` / ``error_code``, and
``AbstractProvider.status_reason`` (contract rule and CLI display)."""

from __future__ import annotations

import io
import json
from typing import ClassVar

import pytest

from provider_core.cli import build_parser
from provider_core.contract import check_provider
from provider_core.defaults import reset_registry
from provider_core.errors import ProviderConnectionError, ProviderError, ProviderHTTPError
from provider_core.provider import AbstractProvider
from provider_core.registry import Registry
from provider_core.testing.server import LoopbackServer, Reply, refused_url
from provider_core.transport import request_json, stream_post


@pytest.fixture
def server():
    with LoopbackServer() as running:
        yield running


def parse(body: bytes):
    data = json.loads(body)["error"]
    return data["message"], data.get("type"), data.get("code")


def test_request_json_gets_and_posts(server):
    server.enqueue(Reply(200, body='{"a": [1, "é"]}', framing="length"), Reply(200, body="[]", framing="chunked"))
    assert request_json("p", "GET", server.url + "/x") == {"a": [1, "é"]}
    assert request_json("p", "POST", server.url + "/y", json={"q": 1}) == []
    get, post = server.requests
    assert (get.method, post.method, post.json) == ("GET", "POST", {"q": 1})


def test_request_json_errors(server):
    server.enqueue(
        Reply(200, body="not json", framing="length"),
        Reply(200, body="x" * 2000, framing="length"),
        Reply(200, body='{"a": "' + "y" * 500, close_after=100),
    )
    with pytest.raises(ProviderError, match="is not JSON: not json"):
        request_json("p", "GET", server.url)
    with pytest.raises(ProviderError, match="larger than 1,000 bytes"):
        request_json("p", "GET", server.url, max_bytes=1000)
    with pytest.raises(ProviderConnectionError):
        request_json("p", "GET", server.url)
    with pytest.raises(ProviderConnectionError, match="connection refused"):
        request_json("p", "GET", refused_url())


def test_parse_error_fills_message_type_and_code(server):
    body = json.dumps({"error": {"message": "You exceeded your quota.", "type": "insufficient_quota", "code": "q"}})
    server.enqueue(Reply(429, body=body, headers={"Retry-After": "12"}, framing="length"))
    with pytest.raises(ProviderHTTPError) as info:
        list(stream_post("p", server.url + "/c?key=secret", json={}, parse_error=parse))
    exc = info.value
    assert (exc.status_code, exc.retry_after, exc.error_type, exc.error_code) == (429, 12.0, "insufficient_quota", "q")
    assert exc.body_excerpt == "You exceeded your quota."
    assert str(exc) == (
        f"HTTP 429 Too Many Requests from p ({server.url}/c): [insufficient_quota] You exceeded your quota."
    )


def test_a_parser_that_fails_or_declines_keeps_the_raw_excerpt(server):
    def broken(body: bytes):
        raise RuntimeError("parser bug")

    for parser in (broken, lambda body: None, None):
        server.enqueue(Reply(503, body="<h1>down</h1>", framing="length"))
        with pytest.raises(ProviderHTTPError) as info:
            request_json("p", "GET", server.url, parse_error=parser)
        assert (info.value.body_excerpt, info.value.error_type) == ("<h1>down</h1>", None)


class Unavailable(AbstractProvider):
    models: ClassVar = {}
    status_reason = "model list unavailable: connection refused"

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        yield ""


def test_an_empty_model_list_is_allowed_only_when_not_working_with_a_reason():
    assert all(r.ok for r in check_provider(Unavailable))
    no_reason = type("NoReason", (Unavailable,), {"status_reason": None})
    working = type("Working", (Unavailable,), {"working": True})
    for cls in (no_reason, working):
        (models,) = [r for r in check_provider(cls) if r.rule == "models"]
        assert not models.ok and models.detail == "models must not be empty"


def test_the_cli_shows_the_reason_of_a_provider_that_is_not_working():
    registry = Registry(load_entry_points=False)
    registry.register(Unavailable)
    out = io.StringIO()
    undo = reset_registry(registry)
    try:
        args = build_parser().parse_args(["providers"])
        args.func(args, out)
    finally:
        undo()
    assert "  Unavailable: not working: model list unavailable: connection refused" in out.getvalue()
    record = registry.describe(Unavailable)
    assert (record["working"], record["status_reason"], record["models"]) == (
        False,
        "model list unavailable: connection refused",
        [],
    )
