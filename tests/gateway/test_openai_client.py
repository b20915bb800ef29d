"""The gateway through the official ``openai`` client: models, chat (stream and not), errors."""

from __future__ import annotations

import gc

import openai
import pytest


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_models_list_shows_models_of_working_providers_only(client):
    models = {m.id: m for m in client.models.list()}
    assert {"echo-1", "count-1", "broken-1", "limited-1"} <= set(models)
    assert "down-1" not in models  # Down is marked not working
    assert models["echo-1"].owned_by == "Echo"
    assert models["echo-1"].object == "model"
    assert models["echo-1"].model_extra["providers"] == ["Echo"]
    assert client.models.retrieve("count-1").id == "count-1"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("down-1")


def test_chat_non_stream(client):
    reply = client.chat.completions.create(model="echo-1", messages=user("hello gateway world"))
    assert reply.object == "chat.completion"
    assert reply.model == "echo-1"
    assert reply.id.startswith("chatcmpl-")
    (choice,) = reply.choices
    assert choice.message.role == "assistant"
    assert choice.message.content == "hello gateway world"
    assert choice.finish_reason == "stop"
    assert reply.model_extra["provider"] == "Echo"


def test_chat_stream_is_routed_by_model_and_arrives_whole(client, helpers):
    stream = client.chat.completions.create(model="count-1", messages=user("t 25"), stream=True)
    chunks = list(stream)
    deltas = [c.choices[0].delta for c in chunks]
    assert deltas[0].role == "assistant"
    texts = [d.content for d in deltas if d.content]
    assert texts == helpers.counted("t", 25)  # every chunk, in order, none merged or lost
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert {c.id for c in chunks} == {chunks[0].id}
    assert all(c.object == "chat.completion.chunk" and c.model == "count-1" for c in chunks)
    assert chunks[0].model_extra["provider"] == "Counter"


def test_stream_with_raw_response_ends_with_done_and_names_provider(client):
    with client.chat.completions.with_streaming_response.create(
        model="echo-1", messages=user("a b"), stream=True
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-provider-core-provider"] == "Echo"
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    assert all(line.startswith("data: ") for line in lines)


@pytest.mark.filterwarnings("ignore::provider_core.errors.ProviderNotWorkingWarning")
def test_provider_field_pins_a_provider_even_one_marked_not_working(client):
    reply = client.chat.completions.create(model="down-1", messages=user("x"), extra_body={"provider": "down"})
    assert reply.choices[0].message.content == "down but answering"
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="down-1", messages=user("x"))
    assert info.value.status_code == 503  # routed: the only provider is not working
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="echo-1", messages=user("x"), extra_body={"provider": "nosuch"})
    assert info.value.body["code"] == "provider_not_found"
    assert info.value.body["param"] == "provider"


def test_a_tool_request_to_text_only_providers_is_400_saying_why(client):
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="echo-1", messages=user("x"), tools=[tool])
    assert info.value.body["code"] == "unsupported_request"
    assert "Echo: does not support tools" in info.value.message


def test_parameters_and_content_parts_reach_the_provider(client):
    messages = [
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "hel"}, {"type": "text", "text": "lo"}]},
    ]
    reply = client.chat.completions.create(model="options-1", messages=messages, temperature=0.25, max_tokens=5)
    text = reply.choices[0].message.content
    assert text.startswith("[('max_tokens', 5), ('temperature', 0.25)]|")
    assert "{'role': 'system', 'content': 'be brief'}" in text
    assert "{'role': 'user', 'content': 'hello'}" in text


# -- errors ----------------------------------------------------------------------------------


def test_unknown_model_is_not_found_with_suggestions(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="echo-2", messages=user("x"))
    err = info.value
    assert err.status_code == 404
    assert err.body["code"] == "model_not_found"
    assert err.body["param"] == "model"
    assert "echo-1" in err.body["suggestions"]
    assert "did you mean 'echo-1'" in err.message


def test_unknown_model_when_streaming_is_a_status_too(client):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=user("x"), stream=True)


def test_no_working_provider_is_503_with_each_reason(client):
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="flaky-1", messages=user("x"), stream=True)
    err = info.value
    assert err.status_code == 503
    assert err.body["code"] == "no_provider_available"
    assert [a["provider"] for a in err.body["attempts"]] == ["FlakyA", "FlakyB"]
    assert all("connection refused" in a["reason"] for a in err.body["attempts"])
    assert "FlakyA" in err.message and "FlakyB" in err.message


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([{"role": "bot", "content": "x"}], "messages[0].role"),
        ([{"role": "user", "content": "x"}, {"role": "user"}], "messages[1].content"),
        ([], "messages"),
    ],
)
def test_invalid_messages_are_400_naming_the_field(client, messages, param):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="echo-1", messages=messages)
    assert info.value.body["param"] == param
    assert param in info.value.message


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"temperature": 5}, "temperature"),
        ({"tools": [{"type": "function", "function": {"name": "f g"}}]}, "tools[0].function.name"),
        ({"stop": [""]}, "stop"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"logprobs": True}, "logprobs"),
        ({"frequency_penalty": 0.5}, "frequency_penalty"),
        ({"parallel_tool_calls": False}, "parallel_tool_calls"),
        ({"max_tokens": 5, "max_completion_tokens": 6}, "max_completion_tokens"),
        ({"n": 2}, "n"),
        ({"extra_body": {"frobnicate": 1}}, "frobnicate"),
        ({"extra_body": {"stream": "yes"}}, "stream"),
        ({"model": 42}, "model"),
    ],
)
def test_bad_request_fields_are_400_naming_the_field(client, extra, param):
    kwargs = {"model": "echo-1", "messages": user("x"), **extra}
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(**kwargs)
    assert info.value.body["param"] == param


def test_upstream_429_stays_429_with_retry_after(client):
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="limited-1", messages=user("x"), stream=True)
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "7"
    assert "Limited: rate limited by the upstream (HTTP 429)" in info.value.message


def test_upstream_401_is_a_bad_gateway_not_the_callers_auth_failure(client):
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="refused-1", messages=user("x"))
    assert info.value.status_code == 502
    assert info.value.body["code"] == "upstream_error"


def test_failure_after_first_chunk_is_an_error_event_then_a_clean_end(client):
    received = []
    stream = client.chat.completions.create(model="broken-1", messages=user("x"), stream=True)
    with stream, pytest.raises(openai.APIError) as info:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content)
    # The SDK raises its APIError with its inner event generator still suspended; collected
    # later (inside another test's import of httpx) that generator's cleanup fails. Here.
    gc.collect()
    assert received == ["a", "b"]
    assert info.value.body["code"] == "stream_interrupted"
    assert info.value.body["received_chars"] == 2
    assert "connection reset" in info.value.message


def test_failure_after_first_chunk_on_the_wire(gateway):
    import httpx

    body = {"model": "broken-1", "messages": user("x"), "stream": True}
    with httpx.Client(timeout=30) as http:
        response = http.post(gateway.url + "/v1/chat/completions", json=body)
    assert response.status_code == 200
    events = [e for e in response.text.split("\n\n") if e]
    assert len(events) == 4  # a, b, the error, then [DONE]: the stream is over (incomplete)
    assert '"error"' in events[-2] and events[-1] == "data: [DONE]"
    assert response.is_closed  # the chunked body ended properly (httpx would raise otherwise)


def test_failure_without_streaming_is_a_status(client):
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="broken-1", messages=user("x"))
    assert info.value.status_code == 502
    assert info.value.body["code"] == "stream_interrupted"


def test_http_errors_are_in_the_openai_shape(gateway):
    import httpx

    with httpx.Client(timeout=10) as http:
        missing = http.get(gateway.url + "/v1/nothing")
        wrong_method = http.get(gateway.url + "/v1/chat/completions")
        not_json = http.post(
            gateway.url + "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
        )
        not_object = http.post(gateway.url + "/v1/chat/completions", json=["model"])
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert not_json.status_code == 400
    assert "not valid JSON" in not_json.json()["error"]["message"]
    assert not_object.status_code == 400
    assert "JSON object" in not_object.json()["error"]["message"]


def test_providers_endpoint_matches_the_cli_records(client, helpers):
    response = client.get("/providers", cast_to=object)
    names = [p["name"] for p in response["providers"]]
    assert names == sorted(names, key=str.lower)
    down = next(p for p in response["providers"] if p["name"] == "Down")
    registry = helpers.make_registry()
    assert down == registry.describe(registry.get("Down"))
    assert down["working"] is False
