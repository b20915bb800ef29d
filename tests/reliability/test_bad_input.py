"""Bad input is refused with a clear typed error before any request is sent.

Each case goes three ways: routed (``create_completion`` picks Aivvm), named
(``provider="aivvm"``) and straight to ``Aivvm.create_completion``; the loopback Aivvm
server behind it must record zero requests. The CLI cases run the real console script.
Hypothesis then explores message lists and model names at large, with a provider that
counts its calls: an invalid input never reaches it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import clean_env, run_cli

from provider_core import AbstractProvider, InvalidMessages, ModelNotSupported, Registry, create_completion
from provider_core.messages import validate_messages

OK = [{"role": "user", "content": "hi"}]
TEN_MB = "x" * (10 * 1024 * 1024)

BAD_MESSAGES = [
    pytest.param([{"content": "hi"}], "messages[0].role", id="missing-role"),
    pytest.param([{"role": "user"}], "messages[0].content", id="missing-content"),
    pytest.param([{"role": "user", "content": 42}], "messages[0].content", id="int-content"),
    pytest.param([{"role": "user", "content": None}], "messages[0].content", id="none-content"),
    pytest.param([{"role": "user", "content": ["a", "b"]}], "messages[0].content[0]", id="list-content"),  # parts (v2)
    pytest.param([{"role": "user", "content": b"bytes"}], "messages[0].content", id="bytes-content"),
    pytest.param([*OK, {"role": "wizard", "content": "hi"}], "messages[1].role", id="unknown-role"),
    pytest.param([{"role": "user", "content": "hi", "secret": "x"}], "messages[0].secret", id="unknown-field"),
    pytest.param([], "messages", id="empty-list"),
    pytest.param(None, "messages", id="none"),
    pytest.param("hi", "messages", id="a-string"),
    pytest.param({"role": "user", "content": "hi"}, "messages", id="a-dict"),
    pytest.param([{"role": "user", "content": TEN_MB}], "messages", id="10-MB-prompt"),
]
BAD_TEMPERATURES = [-0.1, 2.0001, math.nan, math.inf, "0.5", True, [1]]
BAD_MODELS = ["gpt-4\x00", "gpt\n4", "\x1b[31mgpt-4", "gpt-4\u200b\u2028", "g" * 300, 4, None]


@pytest.fixture
def aivvm_only() -> Registry:
    from provider_aivvm import Aivvm

    registry = Registry(load_entry_points=False)
    registry.register(Aivvm)
    return registry


def _three_ways(registry: Registry, url: str, model: Any, messages: Any, **options: Any) -> list[BaseException]:
    """Call routed, named and direct; return the three exceptions (each must be raised)."""
    from provider_aivvm import Aivvm

    calls = [
        lambda: create_completion(model, messages, registry=registry, include_not_working=True, **options),
        lambda: create_completion(model, messages, provider="Aivvm", registry=registry, **options),
    ]
    if model is not None:  # called directly, Aivvm reads a missing model (None) as its default, as the original did
        calls.append(lambda: list(Aivvm.create_completion(model, messages, True, **options)))
    raised = []
    for call in calls:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                result = call()
            except Exception as exc:
                raised.append(exc)
            else:
                pytest.fail(f"accepted: {result!r}"[:200])
    return raised


@pytest.mark.parametrize(("messages", "where"), BAD_MESSAGES)
def test_bad_messages(aivvm_only: Registry, aivvm_server: Any, messages: Any, where: str) -> None:
    for exc in _three_ways(aivvm_only, aivvm_server.url, "gpt-4", messages, base_url=aivvm_server.url):
        assert type(exc) is InvalidMessages, repr(exc)
        assert isinstance(exc, ValueError)
        assert exc.errors[0][0] == where
        assert str(exc).startswith(f"invalid input: {where}")
        assert len(str(exc)) < 400  # says what and where, does not echo a 10 MB prompt
    assert aivvm_server.requests == []


@pytest.mark.parametrize("temperature", BAD_TEMPERATURES, ids=repr)
def test_bad_temperature(aivvm_only: Registry, aivvm_server: Any, temperature: Any) -> None:
    for exc in _three_ways(
        aivvm_only, aivvm_server.url, "gpt-4", OK, temperature=temperature, base_url=aivvm_server.url
    ):
        assert type(exc) is InvalidMessages
        assert exc.errors[0][0] == "temperature"
        assert "must be a number in [0, 2]" in str(exc)
    assert aivvm_server.requests == []


@pytest.mark.parametrize("model", BAD_MODELS, ids=repr)
def test_bad_model_name(aivvm_only: Registry, aivvm_server: Any, model: Any) -> None:
    for exc in _three_ways(aivvm_only, aivvm_server.url, model, OK, base_url=aivvm_server.url):
        assert type(exc) is ModelNotSupported, repr(exc)
        assert isinstance(exc, ValueError)
        assert "\n" not in str(exc) and "\x00" not in str(exc) and "\x1b" not in str(exc)
    assert aivvm_server.requests == []


def test_unknown_model_suggests_close_ones(aivvm_only: Registry, aivvm_server: Any) -> None:
    for exc in _three_ways(aivvm_only, aivvm_server.url, "gpt-4-32", OK, base_url=aivvm_server.url):
        assert type(exc) is ModelNotSupported
        assert "gpt-4-32k" in exc.suggestions
    assert aivvm_server.requests == []


# -- the CLI ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "stdin", "line"),
    [
        (["-t", "3"], None, "error: invalid input: temperature: must be a number in [0, 2], got 3.0"),
        (["-t", "nan"], None, "error: invalid input: temperature: must be a number in [0, 2], got nan"),
        (["-m", "gpt-4\x01"], None, "error: model id 'gpt-4\\x01' contains control characters"),
        (["-m", "gpt-5"], None, "error: model 'gpt-5' is not served by provider 'Aivvm'; did you mean 'gpt-4'?"),
        ([], "", "error: no prompt: stdin was empty"),
        (
            [],
            TEN_MB,
            "error: invalid input: messages: content totals 10,485,760 characters, over the 2,000,000 limit",
        ),
    ],
    ids=["temperature", "temperature-nan", "control-character", "unknown-model", "empty-stdin", "10-MB-stdin"],
)
def test_cli_refuses_bad_input_before_sending(aivvm_server: Any, args: list[str], stdin: str | None, line: str) -> None:
    argv = ["chat", "--provider", "aivvm", "-m", "gpt-4", *args]
    if stdin is None:
        argv.append("hi")
    env = clean_env(AIVVM_BASE_URL=aivvm_server.url, PROVIDER_CORE_PLUGINS="aivvm")
    result = run_cli(*argv, env=env, stdin=stdin)
    assert (result.code, result.stdout, result.error_lines) == (2, "", [line])
    assert "Traceback" not in result.stderr
    assert aivvm_server.requests == []


# -- Hypothesis ---------------------------------------------------------------------------


class Counting(AbstractProvider):
    """Serves ``m``; counts calls. Any call for invalid input is a failure."""

    working = True
    supports_stream = True
    models = {"m": "M", "gpt-4": "GPT-4"}  # noqa: RUF012
    calls = 0

    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[str]:
        cls.calls += 1
        yield "ok"


@pytest.fixture(scope="module")
def counting() -> Registry:
    registry = Registry(load_entry_points=False)
    registry.register(Counting)
    return registry


ROLES = ("system", "user", "assistant", "tool")
KEYS = ("role", "content", "name", "tool_call_id", "tool_calls", "extra")
scalars = st.one_of(
    st.sampled_from(ROLES),
    st.text(max_size=20),
    st.integers(),
    st.floats(allow_nan=True),
    st.none(),
    st.booleans(),
    st.binary(max_size=5),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
text_part = st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=10)})
valid_message = st.fixed_dictionaries(
    {"role": st.sampled_from(ROLES), "content": st.text(max_size=30) | st.lists(text_part, min_size=1, max_size=2)},
    optional={"name": st.text(max_size=10)},
) | st.fixed_dictionaries(
    {"role": st.just("tool"), "content": st.text(max_size=30)},
    optional={"tool_call_id": st.text(max_size=10)},
)
any_message = st.one_of(
    valid_message,
    st.dictionaries(st.sampled_from(KEYS), values, max_size=5),
    values,
)
message_lists = st.one_of(st.lists(valid_message, max_size=4), st.lists(any_message, max_size=4), values)


def _valid_content(message: dict[str, Any]) -> bool:
    content = message["content"]
    if type(content) is str:
        return True
    if content is None:  # only beside an assistant's tool calls
        return message["role"] == "assistant" and bool(message.get("tool_calls"))
    if type(content) is not list or not content:
        return False
    for part in content:
        if type(part) is not dict:
            return False
        if part.get("type") == "text" and set(part) == {"type", "text"} and type(part["text"]) is str:
            continue
        image = part.get("image_url")
        if not (
            message["role"] == "user"
            and part.get("type") == "image_url"
            and set(part) == {"type", "image_url"}
            and type(image) is dict
            and set(image) <= {"url", "detail"}
            and type(image.get("url")) is str
            and image["url"]
            and image.get("detail", "auto") in ("auto", "low", "high")
        ):
            return False
    return True


def _valid_call(call: Any) -> bool:
    function = call.get("function") if type(call) is dict else None
    return (
        type(call) is dict
        and set(call) == {"id", "type", "function"}
        and type(call["id"]) is str
        and call["type"] == "function"
        and type(function) is dict
        and set(function) == {"name", "arguments"}
        and all(type(v) is str for v in function.values())
    )


def is_valid(messages: Any) -> bool:
    """The contract (version 2), written independently of the implementation."""
    if type(messages) is not list or not messages:
        return False
    for message in messages:
        if type(message) is not dict or not set(message) <= {"role", "content", "name", "tool_call_id", "tool_calls"}:
            return False
        role = message.get("role")
        if type(role) is not str or role not in ROLES:
            return False
        if "content" not in message and not (role == "assistant" and message.get("tool_calls")):
            return False
        if "content" in message and not _valid_content(message):
            return False
        if any(type(message[k]) is not str for k in ("name", "tool_call_id") if k in message):
            return False
        if "tool_call_id" in message and role != "tool":
            return False
        if "tool_calls" in message:
            calls = message["tool_calls"]
            if role != "assistant" or type(calls) is not list or not calls or not all(map(_valid_call, calls)):
                return False
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=message_lists)
def test_messages_property(counting: Registry, messages: Any) -> None:
    valid = is_valid(messages)
    before = Counting.calls
    try:
        checked = validate_messages(messages)
    except InvalidMessages as exc:
        assert not valid, f"refused a valid list: {exc}"
        assert exc.errors and all(loc.startswith("messages") for loc, _ in exc.errors)
        with pytest.raises(InvalidMessages):
            create_completion("m", messages, registry=counting)
        assert Counting.calls == before, "a provider was called with invalid messages"
        return
    assert valid, f"accepted an invalid list: {messages!r}"
    assert checked == messages
    assert "".join(create_completion("m", messages, registry=counting)) == "ok"
    assert Counting.calls == before + 1


@settings(max_examples=300, deadline=None)
@given(model=st.one_of(st.text(max_size=40), st.sampled_from(["m", "gpt-4", ""]), st.integers(), st.none()))
def test_model_names_property(counting: Registry, model: Any) -> None:
    before = Counting.calls
    for pinned in (None, "Counting"):
        try:
            text = "".join(create_completion(model, OK, provider=pinned, registry=counting))
        except ModelNotSupported as exc:
            assert isinstance(exc, ValueError)
            assert model not in Counting.models or not isinstance(model, str)
            assert "\n" not in str(exc)
            continue
        assert isinstance(model, str) and model.isprintable()
        assert model in Counting.models or (pinned and model == "")
        assert text == "ok"
    if not isinstance(model, str) or not model.isprintable() or (model and model not in Counting.models):
        assert Counting.calls == before
