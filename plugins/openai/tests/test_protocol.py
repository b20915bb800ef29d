"""The wire format: request bodies, reply and chunk reading, error bodies, model lists."""

from __future__ import annotations

import json

import pytest
from provider_openai.protocol import (
    build_body,
    chunk_delta,
    error_details,
    message_text,
    parse_error_body,
    parse_model_list,
)

from provider_core.errors import InvalidMessages

USER = [{"role": "user", "content": "hi"}]


def test_body_passes_options_through_and_keeps_its_own_keywords_out():
    body = build_body(
        "m",
        USER,
        True,
        {
            "temperature": 0.2,
            "max_tokens": 5,
            "stop": ["\n"],
            "seed": 1,
            "top_p": None,
            "timeout": 3,
            "proxy": "http://p",
            "api_key": "sk-secret",
            "extra_headers": {"x": "y"},
            "base_url": "http://elsewhere",
        },
    )
    assert body == {
        "model": "m",
        "messages": USER,
        "stream": True,
        "temperature": 0.2,
        "max_tokens": 5,
        "stop": ["\n"],
        "seed": 1,
    }


def test_system_message_leads_unless_one_is_there():
    assert build_body("m", USER, False, {"system_message": "be brief"})["messages"] == [
        {"role": "system", "content": "be brief"},
        *USER,
    ]
    own = [{"role": "system", "content": "mine"}, *USER]
    assert build_body("m", own, False, {"system_message": "other"})["messages"] == own


def test_a_value_that_is_not_json_is_refused_before_sending():
    with pytest.raises(InvalidMessages) as info:
        build_body("m", USER, True, {"logit_bias": object(), "temperature": float("nan")})
    assert [loc for loc, _ in info.value.errors] == ["logit_bias", "temperature"]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            {"error": {"message": "bad key", "type": "invalid_request_error", "code": "invalid_api_key"}},
            ("bad key", "invalid_request_error", "invalid_api_key"),
        ),
        ({"error": {"message": "slow", "type": "requests", "code": 429}}, ("slow", "requests", "429")),
        ({"error": "model 'x' not found"}, ("model 'x' not found", None, None)),
        ({"message": "plain", "type": "server_error"}, ("plain", "server_error", None)),
        ({"detail": "Not authenticated"}, ("Not authenticated", None, None)),
        ({"detail": [{"loc": ["body"], "msg": "bad"}]}, ('[{"loc": ["body"], "msg": "bad"}]', None, None)),
        ({"choices": []}, None),
        ([1, 2], None),
    ],
)
def test_error_shapes(payload, expected):
    assert error_details(payload) == expected


def test_parse_error_body_reads_json_and_gives_up_on_anything_else():
    assert parse_error_body(json.dumps({"error": {"message": "m", "type": "t"}}).encode()) == ("m", "t", None)
    assert parse_error_body(b"<html>502 Bad Gateway</html>") is None
    assert parse_error_body(b"") is None


def test_chunk_delta():
    assert chunk_delta({"choices": [{"index": 0, "delta": {"content": "Hi"}}]}) == ("Hi", None)
    assert chunk_delta({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}) == ("", None)
    assert chunk_delta({"choices": [{"index": 0, "delta": {"content": None}, "finish_reason": "stop"}]}) == (
        "",
        "stop",
    )
    assert chunk_delta({"choices": [], "usage": {"total_tokens": 3}}) == ("", None)
    assert chunk_delta({"choices": [{"index": 1, "delta": {"content": "other"}}]}) == ("", None)
    assert chunk_delta({"choices": [{"text": "legacy", "index": 0}]}) == ("legacy", None)
    with pytest.raises(ValueError, match="JSON object"):
        chunk_delta([1])


def test_message_text():
    reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}}]}
    assert message_text(reply) == "Hello"
    assert message_text({"choices": [{"index": 0, "message": {"role": "assistant", "content": None}}]}) == ""
    with pytest.raises(ValueError, match="no choices"):
        message_text({"id": "x"})


def test_model_lists():
    assert parse_model_list({"object": "list", "data": [{"id": "a"}, {"id": "b"}, {"id": "a"}]}) == ["a", "b"]
    assert parse_model_list({"models": [{"name": "llama3.2"}], "data": None}) == ["llama3.2"]
    assert parse_model_list(["x", "", 3, "y\n"]) == ["x"]
    assert parse_model_list({"data": []}) == []
    with pytest.raises(ValueError, match="no list of models"):
        parse_model_list({"error": "nope"})
