"""The translation of a provider-core request into the arguments of llm's
``model.prompt()``, with llm's own part classes and models (no request is sent)."""

from __future__ import annotations

import base64
from typing import Any

import llm
import pytest
from llm.default_plugins.openai_models import Chat
from llm.parts import AttachmentPart, TextPart, ToolCallPart, ToolResultPart
from provider_llm.index import ModelEntry
from provider_llm.request import build_request

from provider_core.errors import InvalidMessages, ModelNotSupported


class Bare(llm.Model):
    """A model with llm's plain options (none) and nothing else."""

    model_id = "bare"

    def execute(self, *args: Any) -> Any:
        yield ""


FULL = ModelEntry("m", "default", tools=True, schema=True, attachment_types=("image/png",), can_stream=True)
PLAIN = ModelEntry("m", "default")


def build(messages: list[dict[str, Any]], entry: ModelEntry = FULL, **options: Any) -> Any:
    return build_request(entry, Chat("m"), "llm-default", messages, options)


def test_one_turn_is_prompt_and_system() -> None:
    request = build([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    assert (request.prompt, request.system, request.messages) == ("Hi", "Be brief.", None)
    assert request.prompt_kwargs() == {"prompt": "Hi", "system": "Be brief.", "options": {}}


def test_history_becomes_llm_messages() -> None:
    request = build(
        [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "first"},
            {"role": "user", "content": "second"},
            {"role": "assistant", "content": "answer"},
            {"role": "user", "content": "last"},
        ]
    )
    assert request.prompt == "last"
    assert [(m.role, [p.text for p in m.parts]) for m in request.messages] == [
        ("system", ["S"]),
        ("user", ["first"]),
        ("user", ["second"]),
        ("assistant", ["answer"]),
    ]
    # llm appends the prompt as the last user turn: what a plugin reading messages= sees
    prompt = Chat("m").prompt(**request.prompt_kwargs()).prompt
    assert [m.role for m in prompt.messages] == ["system", "user", "user", "assistant", "user"]
    assert (prompt.prompt, prompt.system) == ("last", "S")  # what an older plugin reads


def test_tool_calls_and_results() -> None:
    request = build(
        [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "-3 C"}]},
        ]
    )
    assert request.prompt is None  # the last turn is a tool result: the history is all
    _user, assistant, tool = request.messages
    assert assistant.parts == [ToolCallPart(name="weather", arguments={"city": "Oslo"}, tool_call_id="c1")]
    assert tool.role == "tool"
    assert tool.parts == [ToolResultPart(name="weather", output="-3 C", tool_call_id="c1")]


def test_bad_tool_arguments_are_the_callers_error() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{not json"}}
    with pytest.raises(InvalidMessages, match=r"messages\[1\]\.tool_calls\[0\]\.function\.arguments"):
        build([{"role": "user", "content": "x"}, {"role": "assistant", "content": None, "tool_calls": [call]}])


def test_images() -> None:
    png = base64.b64encode(b"\x89PNG fake").decode()
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
        {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.webp?size=2"}},
    ]
    request = build([{"role": "user", "content": content}])
    first, second = request.attachments
    assert (first.type, first.content) == ("image/png", b"\x89PNG fake")
    assert (second.type, second.url) == ("image/webp", "https://example.invalid/cat.webp?size=2")
    with pytest.raises(ModelNotSupported, match="does not take images"):
        build([{"role": "user", "content": content}], PLAIN)


def test_images_in_the_history_need_vision_too() -> None:
    old = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]
    request = build(
        [
            {"role": "user", "content": old},
            {"role": "assistant", "content": "a cat"},
            {"role": "user", "content": "sure?"},
        ]
    )
    assert isinstance(request.messages[0].parts[0], AttachmentPart)
    with pytest.raises(ModelNotSupported):
        build(
            [
                {"role": "user", "content": old},
                {"role": "assistant", "content": "a cat"},
                {"role": "user", "content": "?"},
            ],
            PLAIN,
        )


def test_a_bad_data_url() -> None:
    bad = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}]
    with pytest.raises(InvalidMessages, match="not valid base64"):
        build([{"role": "user", "content": bad}])


def test_options_go_to_the_models_own_names() -> None:
    request = build([{"role": "user", "content": "x"}], temperature=0.5, max_tokens=9, stop=["END"], seed=3, top_k=4)
    assert request.options == {"temperature": 0.5, "max_tokens": 9, "stop": "END", "seed": 3}

    class Gemini(llm.Model):
        model_id = "g"

        class Options(llm.Options):
            max_output_tokens: int | None = None
            stop_sequences: list[str] | None = None

        def execute(self, *args: Any) -> Any:
            yield ""

    request = build_request(
        PLAIN,
        Gemini(),
        "p",
        [{"role": "user", "content": "x"}],
        {"max_tokens": 9, "stop": ["a", "b"], "temperature": 1},
    )
    assert request.options == {"max_output_tokens": 9, "stop_sequences": ["a", "b"]}  # no temperature option: dropped


def test_llm_options_pass_through() -> None:
    request = build(
        [{"role": "user", "content": "x"}], temperature=0.5, llm_options={"temperature": 0.1, "logit_bias": "{}"}
    )
    assert request.options == {"temperature": 0.1, "logit_bias": "{}"}
    with pytest.raises(InvalidMessages, match="llm_options"):
        build([{"role": "user", "content": "x"}], llm_options=["not", "a", "dict"])


def test_tools() -> None:
    tools = [
        {"type": "function", "function": {"name": "weather", "description": "Now", "parameters": {"type": "object"}}}
    ]
    request = build([{"role": "user", "content": "x"}], tools=tools, tool_choice="auto")
    (tool,) = request.tools
    assert (tool.name, tool.description, tool.input_schema, tool.implementation) == (
        "weather",
        "Now",
        {"type": "object"},
        None,
    )
    assert build([{"role": "user", "content": "x"}], tools=tools, tool_choice="none").tools == []
    with pytest.raises(ModelNotSupported, match="does not support tools"):
        build([{"role": "user", "content": "x"}], PLAIN, tools=tools)


def test_response_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    request = build(
        [{"role": "user", "content": "x"}],
        response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": schema}},
    )
    assert request.schema == schema
    # llm's OpenAI models have a json_object option
    assert build([{"role": "user", "content": "x"}], response_format={"type": "json_object"}).options == {
        "json_object": True
    }
    assert build([{"role": "user", "content": "x"}], response_format={"type": "text"}).schema is None
    with pytest.raises(ModelNotSupported, match="JSON"):
        build_request(
            PLAIN, Bare(), "p", [{"role": "user", "content": "x"}], {"response_format": {"type": "json_object"}}
        )
    # a model with schemas but no json_object option gets an object schema
    loose = build_request(
        FULL, Bare(), "p", [{"role": "user", "content": "x"}], {"response_format": {"type": "json_object"}}
    )
    assert loose.schema == {"type": "object"}


def test_a_one_turn_model_refuses_a_conversation() -> None:
    single = ModelEntry("m", "p", conversation=False)
    messages = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    with pytest.raises(ModelNotSupported, match="one turn only"):
        build(messages, single)
    assert build([{"role": "system", "content": "s"}, {"role": "user", "content": "c"}], single).prompt == "c"


def test_text_parts_of_one_message() -> None:
    request = build([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}])
    assert request.prompt == "a\nb"
    history = build(
        [{"role": "user", "content": [{"type": "text", "text": "a"}]}, {"role": "assistant", "content": "b"}]
    )
    assert history.messages[0].parts == [TextPart(text="a")]
