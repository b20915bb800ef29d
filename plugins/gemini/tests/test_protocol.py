"""The request translation, pure: OpenAI-shaped messages and keywords -> Gemini body."""

from __future__ import annotations

import base64
import copy
import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from provider_gemini.protocol import SKIP_SIGNATURE, build_body, image_part, tool_config, translate_messages
from provider_gemini.server_checks import check_request

from provider_core.errors import InvalidMessages

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "$defs": {}}


def call(call_id: str, name: str, arguments: str) -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def refused(messages, options=None, **kw) -> InvalidMessages:
    with pytest.raises(InvalidMessages) as info:
        build_body(messages, options or {}, **kw)
    return info.value


def test_roles_system_and_merging():
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi", "name": "ann"},
        {"role": "user", "content": [{"type": "text", "text": "there"}]},
        {"role": "system", "content": [{"type": "text", "text": "Use "}, {"type": "text", "text": "French."}]},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": "Thanks"},
    ]
    system, contents = translate_messages(messages)
    assert system == "Be terse.\n\nUse French."
    assert contents == [
        {"role": "user", "parts": [{"text": "Hi"}, {"text": "there"}]},
        {"role": "model", "parts": [{"text": "Bonjour"}]},
        {"role": "user", "parts": [{"text": "Thanks"}]},
    ]
    body = build_body(messages, {})
    assert body["systemInstruction"] == {"parts": [{"text": "Be terse.\n\nUse French."}]}
    assert check_request(body) is None


def test_the_callers_messages_are_not_changed():
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "a"}]},
        {"role": "assistant", "content": None, "tool_calls": [call("c1", "f", '{"x": 1}')]},
        {"role": "tool", "tool_call_id": "c1", "content": "done"},
    ]
    before = copy.deepcopy(messages)
    build_body(messages, {"stop": ["x"], "tools": [{"type": "function", "function": {"name": "f"}}]})
    assert messages == before


def test_images_from_data_urls_and_https_urls():
    png = base64.b64encode(b"\x89PNG fake").decode()
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "data:image/svg+xml,%3Csvg%2F%3E"}},
        {"type": "image_url", "image_url": {"url": "https://example.org/cat.JPG?size=large#x"}},
    ]
    (turn,) = build_body([{"role": "user", "content": content}], {})["contents"]
    assert turn["parts"] == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": png}},
        {"inlineData": {"mimeType": "image/svg+xml", "data": base64.b64encode(b"<svg/>").decode()}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.org/cat.JPG?size=large#x"}},
    ]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.org/cat.png", "https"),
        ("https://example.org/image", "image type"),
        ("https://example.org/cat.gif", "image type"),
        ("ftp://example.org/cat.png", "https"),
        ("data:;base64,AAAA", "MIME type"),
        ("data:image/png;base64", "no comma"),
    ],
)
def test_image_urls_that_cannot_be_sent_faithfully_are_refused_naming_the_part(url, why):
    content = [{"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": url}}]
    error = refused([{"role": "user", "content": "first"}, {"role": "user", "content": content}])
    ((location, reason),) = error.errors
    assert location == "messages[1].content[1].image_url.url"
    assert why in reason


def test_image_part_alone():
    assert image_part("https://h/x.webp") == {"fileData": {"mimeType": "image/webp", "fileUri": "https://h/x.webp"}}


def test_tool_calls_and_results():
    messages = [
        {"role": "user", "content": "Weather in Paris and Oslo?"},
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [call("c1", "weather", '{"city": "Paris"}'), call("c2", "weather", '{"city":"Oslo"}')],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"temp_c": 21}'},
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "[1, 2]"}]},
        {"role": "assistant", "content": None, "tool_calls": [call("c3", "noargs", "")]},
        {"role": "tool", "tool_call_id": "c3", "content": "plain text"},
    ]
    signatures = {"c1": "c2lnLTE="}
    _, contents = translate_messages(messages, signatures.get)
    assert contents[1] == {
        "role": "model",
        "parts": [
            {"text": "Let me look."},
            {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLTE="},
            {"functionCall": {"name": "weather", "args": {"city": "Oslo"}}},
        ],
    }
    assert contents[2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "weather", "response": {"temp_c": 21}}},
            {"functionResponse": {"name": "weather", "response": {"content": "[1, 2]"}}},
        ],
    }
    # a call whose signature is unknown gets Google's documented placeholder (first call only)
    assert contents[3]["parts"] == [
        {"functionCall": {"name": "noargs", "args": {}}, "thoughtSignature": SKIP_SIGNATURE}
    ]
    assert contents[4]["parts"] == [{"functionResponse": {"name": "noargs", "response": {"content": "plain text"}}}]
    assert check_request({"contents": contents}) is None


@pytest.mark.parametrize(
    ("arguments", "why"), [("{bad", "not valid JSON"), ("[1]", "JSON object"), ("3", "JSON object")]
)
def test_arguments_that_are_not_a_json_object_are_refused_naming_the_message(arguments, why):
    messages = [{"role": "user", "content": "x"}, {"role": "assistant", "content": None, "tool_calls": []}]
    messages[1]["tool_calls"] = [call("c0", "f", "{}"), call("c1", "f", arguments)]
    ((location, reason),) = refused(messages).errors
    assert location == "messages[1].tool_calls[1].function.arguments"
    assert why in reason


def test_a_tool_result_for_an_unknown_call_is_refused():
    messages = [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "1"}]
    ((location, reason),) = refused(messages).errors
    assert location == "messages[1].tool_call_id"
    assert "'nope'" in reason


def test_a_tool_result_without_an_id_is_sent_as_text():
    """Version 1's tool message (no tool_call_id), which the core still accepts."""
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": "checking"},
        {"role": "tool", "content": '{"temperature_c": 21}'},
        {"role": "user", "content": "and?"},
    ]
    _, contents = translate_messages(messages)
    assert contents[2] == {"role": "user", "parts": [{"text": '{"temperature_c": 21}'}, {"text": "and?"}]}
    assert check_request({"contents": contents}) is None


def test_generation_config():
    options = {
        "max_tokens": 64,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": "END",
        "seed": 7,
        "response_format": {"type": "json_object"},
        "timeout": 5,
        "api_key": "k",
        "unknown_keyword": 1,
    }
    body = build_body([{"role": "user", "content": "x"}], options)
    assert body["generationConfig"] == {
        "maxOutputTokens": 64,
        "temperature": 0.2,
        "topP": 0.9,
        "stopSequences": ["END"],
        "seed": 7,
        "responseMimeType": "application/json",
    }
    assert set(body) == {"contents", "generationConfig"}
    schema_format = {"type": "json_schema", "json_schema": {"name": "w", "schema": WEATHER, "strict": True}}
    config = build_body([{"role": "user", "content": "x"}], {"response_format": schema_format, "stop": ["a", "b"]})
    assert config["generationConfig"] == {
        "stopSequences": ["a", "b"],
        "responseMimeType": "application/json",
        "responseJsonSchema": WEATHER,
    }
    assert "generationConfig" not in build_body(
        [{"role": "user", "content": "x"}], {"response_format": {"type": "text"}}
    )
    assert check_request(config) is None


def test_tools_and_tool_choice():
    tools = [
        {"type": "function", "function": {"name": "weather", "description": "Look it up", "parameters": WEATHER}},
        {"type": "function", "function": {"name": "now"}},
    ]
    body = build_body([{"role": "user", "content": "x"}], {"tools": tools, "tool_choice": "required"})
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {"name": "weather", "description": "Look it up", "parametersJsonSchema": WEATHER},
                {"name": "now"},
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert check_request(body) is None
    assert tool_config("auto") == {"functionCallingConfig": {"mode": "AUTO"}}
    assert tool_config("none") == {"functionCallingConfig": {"mode": "NONE"}}
    named = tool_config({"type": "function", "function": {"name": "now"}})
    assert named == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["now"]}}


TEXT = st.text(min_size=1, max_size=40)
TURN = st.tuples(st.sampled_from(["system", "user", "assistant"]), TEXT)


@settings(max_examples=150, deadline=None)
@given(st.lists(TURN, min_size=1, max_size=8))
def test_any_text_conversation_keeps_every_text_in_order_and_is_valid(turns):
    messages = [{"role": role, "content": text} for role, text in turns]
    if all(role == "system" for role, _ in turns):
        messages.append({"role": "user", "content": "go"})
    body = build_body(messages, {})
    assert check_request(body) is None
    roles = [c["role"] for c in body["contents"]]
    assert all(a != b for a, b in itertools.pairwise(roles))  # consecutive turns merged
    sent = [p["text"] for c in body["contents"] for p in c["parts"]]
    assert sent == [m["content"] for m in messages if m["role"] != "system"]
    json.dumps(body)  # plain JSON
