"""The gateway's pure pieces, without a server: request reading, error mapping, config, SSE."""

from __future__ import annotations

import json
import os
import re
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provider_core import errors as core
from provider_core.gateway.auth import BearerAuth
from provider_core.gateway.config import ConfigError, GatewayConfig
from provider_core.gateway.errors import RequestError, api_error_from
from provider_core.gateway.request import parse_chat_request
from provider_core.gateway.sse import ChatReply, encode_event

# -- request ---------------------------------------------------------------------------------


def test_request_minimal():
    chat = parse_chat_request({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert (chat.model, chat.stream, chat.provider, chat.options) == ("m", False, None, {})
    assert chat.messages == [{"role": "user", "content": "hi"}]


def test_request_fields_and_ignored_ones():
    chat = parse_chat_request(
        {
            "model": "m",
            "messages": [{"role": "assistant", "content": "a", "refusal": None, "tool_calls": None}],
            "stream": True,
            "temperature": 0.5,
            "provider": "Aivvm",
            "max_tokens": 10,
            "top_p": 1,
            "user": "u",
            "n": 1,
            "stream_options": {"include_usage": True},
            "response_format": {"type": "text"},
            "tools": [],
            "stop": None,
        }
    )
    assert chat.stream is True and chat.include_usage is True
    assert chat.provider == "Aivvm"
    assert chat.options == {"temperature": 0.5, "max_tokens": 10, "top_p": 1, "response_format": {"type": "text"}}
    assert chat.messages == [{"role": "assistant", "content": "a"}]  # nulls and an empty tools list dropped


def test_request_keeps_a_null_content_beside_tool_calls_and_one_token_limit():
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    chat = parse_chat_request(
        {
            "model": "m",
            "messages": [{"role": "assistant", "content": None, "tool_calls": calls, "annotations": []}],
            "max_completion_tokens": 7,
            "stream": False,
            "stream_options": {"include_usage": True},
        }
    )
    assert chat.messages == [{"role": "assistant", "content": None, "tool_calls": calls}]
    assert chat.options == {"max_tokens": 7} and chat.include_usage is False  # usage chunks are for streams


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([], None),
        ({"messages": []}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": {}}, "messages"),
        ({"model": "m", "messages": [], "stream": 1}, "stream"),
        ({"model": "m", "messages": [], "provider": ""}, "provider"),
        ({"model": "m", "messages": [], "n": True}, "n"),
        ({"model": "m", "messages": [], "logprobs": True}, "logprobs"),
        ({"model": "m", "messages": [], "zzz": 1, "aaa": 2}, "aaa"),
        ({"model": "m", "messages": [], "parallel_tool_calls": False}, "parallel_tool_calls"),
        ({"model": "m", "messages": [], "presence_penalty": 1}, "presence_penalty"),
        ({"model": "m", "messages": [], "modalities": ["text", "audio"]}, "modalities"),
        ({"model": "m", "messages": [], "stream_options": {"include_usage": 1}}, "stream_options.include_usage"),
        ({"model": "m", "messages": [], "stream_options": {"chunk_size": 1}}, "stream_options.chunk_size"),
        ({"model": "m", "messages": [], "max_tokens": 1, "max_completion_tokens": 2}, "max_completion_tokens"),
        ({"model": "m", "messages": [], "tools": {}}, "tools"),
    ],
)
def test_request_errors_name_the_field(body, param):
    with pytest.raises(RequestError) as info:
        parse_chat_request(body)
    assert info.value.param == param
    assert api_error_from(info.value).status == 400


def test_request_leaves_message_checks_to_the_core():
    chat = parse_chat_request({"model": "m", "messages": ["not a dict", {"role": "robot", "content": 3}]})
    assert chat.messages == ["not a dict", {"role": "robot", "content": 3}]


# -- error mapping ---------------------------------------------------------------------------


def http_error(status: int, retry_after: float | None = None) -> Exception:
    return core.ProviderHTTPError(status, provider="P", url="http://127.0.0.1:1/x?token=abc", retry_after=retry_after)


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (core.InvalidMessages([("messages[1].role", "bad")]), 400, "invalid_messages"),
        (core.ModelNotSupported("m"), 404, "model_not_found"),
        (core.ProviderNotFound("p"), 404, "provider_not_found"),
        (core.NoProviderAvailable("m", [core.Attempt("A", "down")]), 503, "no_provider_available"),
        (http_error(429, 2.2), 429, "rate_limited"),
        (http_error(400), 400, "upstream_rejected"),
        (http_error(422), 400, "upstream_rejected"),
        (http_error(413), 413, "upstream_rejected"),
        (http_error(504), 504, "upstream_timeout"),
        (http_error(401), 502, "upstream_error"),
        (http_error(500), 502, "upstream_error"),
        (core.ProviderTimeout("slow", kind="read-timeout"), 504, "upstream_timeout"),
        (core.ProviderConnectionError("refused", kind="refused"), 502, "upstream_unreachable"),
        (core.EmptyResponse("nothing"), 502, "empty_response"),
        (core.StreamInterrupted("cut", received_chars=5), 502, "stream_interrupted"),
        (core.ProviderContractError("bad", rule="r"), 502, "provider_error"),
        (RuntimeError("internal detail /etc/secret"), 500, "internal_error"),
    ],
)
def test_error_mapping(exc, status, code):
    error = api_error_from(exc)
    assert (error.status, error.code) == (status, code)
    body = json.loads(error.json_bytes())
    assert set(body) == {"error"}
    assert {"message", "type", "param", "code"} <= set(body["error"])
    assert "token=abc" not in body["error"]["message"]
    assert "/etc/secret" not in body["error"]["message"]


def test_error_details():
    assert api_error_from(core.InvalidMessages([("messages[1].role", "bad")])).param == "messages[1].role"
    assert api_error_from(http_error(429, 2.2)).headers == {"retry-after": "3"}
    assert api_error_from(http_error(429)).headers == {}
    attempts = api_error_from(core.NoProviderAvailable("m", [core.Attempt("A", "down")])).extra["attempts"]
    assert attempts == [{"provider": "A", "reason": "down"}]
    assert api_error_from(core.ModelNotSupported("gpt-5", suggestions=["gpt-4"])).extra == {"suggestions": ["gpt-4"]}


# -- config ----------------------------------------------------------------------------------


def test_config_from_env(tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("# ops keys\nfile-key-1\n\n  file-key-2  \n", encoding="utf-8")
    config = GatewayConfig.from_env(
        {
            "PROVIDER_CORE_API_KEYS": "k1, k2,,",
            "PROVIDER_CORE_API_KEYS_FILE": str(keys),
            "PROVIDER_CORE_MAX_BODY_BYTES": "2048",
            "PROVIDER_CORE_CORS_ORIGINS": "https://a.example, https://b.example",
            "PROVIDER_CORE_INCLUDE_NOT_WORKING": "yes",
            "PROVIDER_CORE_GATEWAY_THREADS": "8",
        }
    )
    assert config.api_keys == ("k1", "k2", "file-key-1", "file-key-2")
    assert (config.max_body_bytes, config.threads, config.include_not_working) == (2048, 8, True)
    assert config.cors_origins == ("https://a.example", "https://b.example")
    assert "k1" not in repr(config) and "file-key" not in repr(config)
    default = GatewayConfig.from_env({})
    assert (default.api_keys, default.max_body_bytes, default.cors_origins) == ((), 1024 * 1024, ())
    assert not default.auth_enabled and not default.include_not_working


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"PROVIDER_CORE_MAX_BODY_BYTES": "1MB"}, "PROVIDER_CORE_MAX_BODY_BYTES"),
        ({"PROVIDER_CORE_GATEWAY_THREADS": "0"}, "PROVIDER_CORE_GATEWAY_THREADS"),
        ({"PROVIDER_CORE_API_KEYS_FILE": "/nonexistent/keys"}, "/nonexistent/keys"),
    ],
)
def test_config_errors_name_the_setting(env, names):
    with pytest.raises(ConfigError, match=names):
        GatewayConfig.from_env(env)


def test_config_refuses_an_empty_keys_file(tmp_path):
    empty = tmp_path / "keys"
    empty.write_text("# none yet\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="holds no key"):
        GatewayConfig.from_env({"PROVIDER_CORE_API_KEYS_FILE": str(empty)})


# -- auth ------------------------------------------------------------------------------------


def test_bearer_parsing():
    auth = BearerAuth(None, ["key-1", "key-2"])
    assert auth.accepts(b"Bearer key-1")
    assert auth.accepts(b"bearer  key-2 ")
    for bad in (None, b"", b"key-1", b"Basic key-1", b"Bearer key-3", b"Bearer key-1x", b"Bearer ", b"Bearer key-"):
        assert not auth.accepts(bad), bad


# -- SSE -------------------------------------------------------------------------------------


def parse_sse(raw: bytes) -> list[str]:
    """A minimal SSE reader (per the WHATWG rules we rely on): events end at a blank line,
    ``data:`` lines join with newlines, one optional space after the colon is dropped."""
    events = []
    for block in raw.decode("utf-8").split("\n\n"):
        if not block:
            continue
        data = [line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:")]
        events.append("\n".join(data))
    return events


@given(st.lists(st.text(min_size=1), min_size=1, max_size=8))
def test_sse_carries_any_text_exactly(chunks):
    reply = ChatReply("m", provider="P")
    raw = b"".join(reply.item(c) for c in chunks) + reply.final_chunk("stop")
    events = [json.loads(e) for e in parse_sse(raw)]
    assert len(events) == len(chunks) + 1
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events) == "".join(chunks)
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


@given(st.dictionaries(st.text(), st.text()))
def test_sse_event_is_one_data_line(data):
    raw = encode_event(data)
    assert raw.startswith(b"data: ") and raw.endswith(b"\n\n")
    assert raw.count(b"\n") == 2  # JSON escapes every newline, so one event is one line
    assert json.loads(parse_sse(raw)[0]) == data


def test_reply_ids_are_openai_shaped_and_distinct_in_a_forked_child_too():
    ids = {ChatReply("m").id for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"chatcmpl-[0-9a-f]{32}", i) for i in ids)
    if not hasattr(os, "fork"):
        return
    read, write = os.pipe()
    with warnings.catch_warnings():  # Python 3.12+ warns about forking a process with threads
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: its next id, then out at once
        os.write(write, ChatReply("m").id.encode())
        os._exit(0)
    os.close(write)
    try:
        child = os.read(read, 100).decode()
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert re.fullmatch(r"chatcmpl-[0-9a-f]{32}", child)
    assert child != ChatReply("m").id  # not the parent's next id: the child reseeded
