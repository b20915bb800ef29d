"""The pure translation one way: OpenAI-shaped messages and keywords -> the Messages API
body (what provider-core accepts but Anthropic cannot take is refused; the shapes are the
core's to check). No sockets but one property test that sends conversations for real (the
server's own body checks are used as a judge)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from provider_anthropic import Anthropic
from provider_anthropic.messages import translate_messages
from provider_anthropic.request import DEFAULT_MAX_TOKENS, build_body
from provider_anthropic.server import AnthropicServer
from provider_anthropic.server_checks import check_body

from provider_core.errors import InvalidMessages
from provider_core.events import FinishReason

USER = [{"role": "user", "content": "hi"}]


def call(id_: str, name: str, arguments: str) -> dict:
    return {"id": id_, "type": "function", "function": {"name": name, "arguments": arguments}}


# -- messages -----------------------------------------------------------------------------


def test_system_messages_become_one_top_level_field_in_order():
    system, turns = translate_messages(
        [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "hi"},
            {
                "role": "system",
                "content": [{"type": "text", "text": "Answer in French."}, {"type": "text", "text": "X"}],
            },
        ]
    )
    assert system == "Be terse.\n\nAnswer in French.\n\nX"
    assert turns == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


def test_images_from_data_urls_and_http_urls():
    _, turns = translate_messages(
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
                    {"type": "image_url", "image_url": {"url": "https://example.org/cat.jpg"}},
                ],
            }
        ]
    )
    assert turns[0]["content"][1:] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.org/cat.jpg"}},
    ]


@pytest.mark.parametrize(
    "url", ["data:image/png,not-base64", "data:;base64,AAAA", "ftp://example.org/x.png", "file:///etc/passwd"]
)
def test_an_image_url_that_cannot_be_sent_is_refused(url):
    with pytest.raises(InvalidMessages, match=r"messages\[0\]\.content\[0\]\.image_url\.url"):
        translate_messages([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}])


def test_tool_calls_and_results_round_trip_with_ids_unchanged():
    _, turns = translate_messages(
        [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [call("toolu_01A", "weather", '{"city": "Paris"}'), call("toolu_01B", "weather", "")],
            },
            {"role": "tool", "tool_call_id": "toolu_01A", "content": "21C"},
            {"role": "tool", "tool_call_id": "toolu_01B", "content": [{"type": "text", "text": "19C"}]},
            {"role": "user", "content": "Thanks. Which is warmer?"},
        ]
    )
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[1]["content"] == [  # no empty text block for the null content
        {"type": "tool_use", "id": "toolu_01A", "name": "weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_01B", "name": "weather", "input": {}},
    ]
    assert turns[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "21C"},
        {"type": "tool_result", "tool_use_id": "toolu_01B", "content": [{"type": "text", "text": "19C"}]},
        {"type": "text", "text": "Thanks. Which is warmer?"},
    ]


def test_an_assistant_turn_with_empty_content_and_tool_calls_has_no_text_block():
    _, turns = translate_messages(
        [USER[0], {"role": "assistant", "content": "", "tool_calls": [call("toolu_1", "f", "{}")]}]
    )
    assert [b["type"] for b in turns[1]["content"]] == ["tool_use"]


@pytest.mark.parametrize("arguments", ["[1, 2]", '"text"', "{broken", "42"])
def test_arguments_that_are_not_a_json_object_are_refused_naming_the_message(arguments):
    with pytest.raises(InvalidMessages) as info:
        translate_messages([USER[0], {"role": "assistant", "content": None, "tool_calls": [call("t", "f", arguments)]}])
    assert info.value.errors[0][0] == "messages[1].tool_calls[0].function.arguments"


def test_consecutive_turns_of_one_role_are_merged_and_tool_results_lead_their_turn():
    _, turns = translate_messages(
        [
            {"role": "user", "content": "a"},
            {"role": "user", "content": "b"},
            {"role": "assistant", "content": "c", "tool_calls": [call("t1", "f", "{}")]},
            {"role": "user", "content": "late text"},
            {"role": "tool", "tool_call_id": "t1", "content": "result"},
        ]
    )
    assert turns[0]["content"] == [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert [b["type"] for b in turns[2]["content"]] == ["tool_result", "text"]


def test_empty_text_is_dropped_names_too_and_an_old_style_tool_message_is_user_text():
    system, turns = translate_messages(
        [
            {"role": "user", "content": "  ", "name": "ann"},
            {"role": "user", "content": "real", "name": "ann"},
            {"role": "assistant", "content": "ok"},
            {"role": "tool", "content": '{"temperature_c": 21}'},
        ]
    )
    assert system is None
    assert turns == [
        {"role": "user", "content": [{"type": "text", "text": "real"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
        {"role": "user", "content": [{"type": "text", "text": '{"temperature_c": 21}'}]},
    ]


@pytest.mark.parametrize(
    ("messages", "where"),
    [
        ([{"role": "system", "content": "only a system prompt"}], "messages"),
        ([USER[0], {"role": "tool", "tool_call_id": "", "content": "x"}], "messages[1].tool_call_id"),
    ],
)
def test_what_the_core_accepts_but_anthropic_cannot_take_is_refused_with_its_location(messages, where):
    """The shapes themselves are the core's to check (see test_provider.py); these are valid
    for provider-core and still cannot be sent to Anthropic."""
    with pytest.raises(InvalidMessages) as info:
        translate_messages(messages)
    assert info.value.errors[0][0] == where


# -- request fields -------------------------------------------------------------------------


def test_the_minimal_body_always_carries_max_tokens():
    assert build_body("claude-sonnet-4-6", USER, False, {}) == {
        "model": "claude-sonnet-4-6",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "stream": False,
    }
    assert build_body("claude-sonnet-4-6", USER, True, {"max_tokens": 7})["max_tokens"] == 7


def test_sampling_stop_and_seed_on_a_model_that_accepts_sampling():
    body = build_body("claude-sonnet-4-6", USER, True, {"temperature": 0.3, "stop": "END", "seed": 42})
    assert (body["temperature"], body["stop_sequences"], "seed" in body) == (0.3, ["END"], False)
    body = build_body("claude-sonnet-4-6", USER, True, {"top_p": 0.9, "stop": ["a", "b"]})
    assert (body["top_p"], body["stop_sequences"]) == (0.9, ["a", "b"])


def test_sampling_is_left_out_for_models_that_refuse_it_but_still_checked():
    body = build_body("claude-opus-5-5", USER, True, {"temperature": 0.3, "top_p": 0.5})
    assert "temperature" not in body and "top_p" not in body
    with pytest.raises(InvalidMessages, match="temperature"):
        build_body("claude-opus-5-5", USER, True, {"temperature": 1.5})


@pytest.mark.parametrize("temperature", [1.01, 1.5, 2])
def test_a_temperature_above_anthropics_range_is_refused_not_clamped(temperature):
    with pytest.raises(InvalidMessages) as info:
        build_body("claude-sonnet-4-6", USER, True, {"temperature": temperature})
    assert info.value.errors[0][0] == "temperature"
    assert build_body("claude-sonnet-4-6", USER, True, {"temperature": 1})["temperature"] == 1


def test_temperature_and_top_p_together_are_refused():
    with pytest.raises(InvalidMessages, match="top_p"):
        build_body("claude-sonnet-4-6", USER, True, {"temperature": 0.2, "top_p": 0.9})


def test_tools_and_every_tool_choice():
    tools = [
        {
            "type": "function",
            "function": {"name": "weather", "description": "Weather", "parameters": {"type": "object"}},
        },
        {"type": "function", "function": {"name": "now"}},
    ]
    body = build_body("claude-sonnet-4-6", USER, True, {"tools": tools, "tool_choice": "auto"})
    assert body["tools"] == [
        {"name": "weather", "description": "Weather", "input_schema": {"type": "object"}},
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
    ]
    choices = {
        "auto": {"type": "auto"},
        "none": {"type": "none"},
        "required": {"type": "any"},
    }
    for given_choice, expected in choices.items():
        assert (
            build_body("claude-sonnet-4-6", USER, True, {"tools": tools, "tool_choice": given_choice})["tool_choice"]
            == expected
        )
    named = {"type": "function", "function": {"name": "weather"}}
    assert build_body("claude-sonnet-4-6", USER, True, {"tools": tools, "tool_choice": named})["tool_choice"] == {
        "type": "tool",
        "name": "weather",
    }


def test_a_forced_tool_choice_is_refused_where_the_model_cannot_be_forced():
    tools = [{"type": "function", "function": {"name": "f"}}]
    with pytest.raises(InvalidMessages, match="tool_choice: claude-opus-5-5 does not accept a forced tool choice"):
        build_body("claude-opus-5-5", USER, True, {"tools": tools, "tool_choice": "required"})
    assert build_body("claude-opus-5-5", USER, True, {"tools": tools, "tool_choice": "none"})["tool_choice"] == {
        "type": "none"
    }
    assert "tool_choice" not in build_body("claude-sonnet-4-6", USER, True, {"tool_choice": "auto"})


def test_response_format_json_schema_maps_to_structured_outputs_and_json_object_is_refused():
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}
    fmt = {"type": "json_schema", "json_schema": {"name": "thing", "schema": schema, "strict": True}}
    body = build_body("claude-sonnet-4-6", USER, True, {"response_format": fmt})
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert "output_config" not in build_body("claude-sonnet-4-6", USER, True, {"response_format": {"type": "text"}})
    with pytest.raises(InvalidMessages, match="response_format: Anthropic has no JSON mode without a schema"):
        build_body("claude-sonnet-4-6", USER, True, {"response_format": {"type": "json_object"}})


# -- a property: any valid conversation translates into a body Anthropic accepts --------------

_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12).filter(
    str.strip
)


@st.composite
def conversations(draw):
    """Valid OpenAI-shaped conversations: system prompts anywhere, user text and images,
    assistant text and tool calls answered by tool messages, repeated roles."""
    messages: list[dict] = []
    for turn in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["system", "user", "user", "images", "assistant", "tools"]))
        if kind == "system":
            messages.append({"role": "system", "content": draw(_text)})
        elif kind == "user":
            messages.append({"role": "user", "content": draw(_text)})
        elif kind == "images":
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": draw(_text)},
                        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
                    ],
                }
            )
        elif kind == "assistant":
            messages.append({"role": "assistant", "content": draw(_text)})
        else:
            ids = [f"toolu_{turn}_{n}" for n in range(draw(st.integers(1, 3)))]
            content = draw(st.sampled_from([None, "", "Let me check."]))
            calls = [call(i, "lookup", json.dumps({"q": draw(_text)})) for i in ids]
            messages.append({"role": "assistant", "content": content, "tool_calls": calls})
            messages += [{"role": "tool", "tool_call_id": i, "content": draw(_text)} for i in ids]
    if not any(m["role"] in ("user", "assistant", "tool") for m in messages):
        messages.append({"role": "user", "content": "hello"})
    return messages


@settings(max_examples=200, deadline=None)
@given(conversations())
def test_any_valid_conversation_becomes_a_body_the_server_accepts(messages):
    body = build_body("claude-sonnet-4-6", messages, True, {})
    assert check_body(body) is None, (messages, body)
    sent_texts = json.dumps(body, ensure_ascii=False)
    for m in messages:
        if isinstance(m.get("content"), str) and m["content"].strip():
            assert json.dumps(m["content"], ensure_ascii=False)[1:-1] in sent_texts


@pytest.fixture(scope="module")
def echo_server():
    with AnthropicServer(models=["claude-sonnet-4-6"]) as running:
        yield running


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(conversations())
def test_any_valid_conversation_round_trips_through_the_server(echo_server, messages):
    """Sent for real: the server accepts the body and echoes the last user turn's text."""
    items = list(
        Anthropic.create_completion("claude-sonnet-4-6", messages, False, base_url=echo_server.url, api_key="k")
    )
    assert isinstance(items[-1], FinishReason) and echo_server.server.errors == []
    last = json.loads(echo_server.messages_requests[-1].body)["messages"][-1]
    if last["role"] == "user" and last["content"][-1]["type"] == "text":
        assert items[0] == "".join(b["text"] for b in last["content"] if b["type"] == "text")
