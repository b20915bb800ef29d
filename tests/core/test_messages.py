"""Message, model and option validation, with Hypothesis: valid input is accepted and returned
unchanged; anything else is refused with InvalidMessages / ModelNotSupported, never another type."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provider_core import InvalidMessages, ModelNotSupported, ProviderError, create_completion
from provider_core.messages import (
    MAX_MODEL_LENGTH,
    MAX_PROMPT_CHARS,
    validate_messages,
    validate_model,
)
from provider_core.options import validate_options

ROLES = ("system", "user", "assistant", "tool")

valid_message = st.fixed_dictionaries(
    {"role": st.sampled_from(ROLES), "content": st.text(max_size=50)},
    optional={"name": st.text(max_size=10)},
) | st.fixed_dictionaries(  # tool_call_id belongs to tool messages only (contract v2)
    {"role": st.just("tool"), "content": st.text(max_size=50)},
    optional={"name": st.text(max_size=10), "tool_call_id": st.text(max_size=10)},
)
valid_messages = st.lists(valid_message, min_size=1, max_size=6)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | st.binary(max_size=4)
anything = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
# Messages that are almost right: one field broken, or an unknown key, or a wrong role.
broken_message = st.one_of(
    st.fixed_dictionaries({"role": st.text(max_size=10).filter(lambda r: r not in ROLES), "content": st.text()}),
    st.fixed_dictionaries(
        {"role": st.sampled_from(ROLES), "content": anything.filter(lambda c: not isinstance(c, str))}
    ),
    st.fixed_dictionaries({"role": st.sampled_from(ROLES)}),
    st.fixed_dictionaries({"content": st.text()}),
    st.fixed_dictionaries(
        {"role": st.sampled_from(ROLES), "content": st.text(), "unexpected": anything},
    ),
    anything.filter(lambda v: not isinstance(v, dict)),
)


@given(valid_messages)
def test_valid_messages_are_accepted_unchanged(messages):
    assert validate_messages(messages) == messages


@given(st.lists(valid_message, max_size=3), broken_message, st.lists(valid_message, max_size=3))
def test_a_broken_message_is_refused_naming_its_index(before, bad, after):
    messages = [*before, bad, *after]
    with pytest.raises(InvalidMessages) as info:
        validate_messages(messages)
    locations = [loc for loc, _ in info.value.errors]
    assert any(loc.startswith(f"messages[{len(before)}]") for loc in locations), locations


@given(anything)
def test_anything_is_accepted_or_refused_with_invalid_messages(value):
    try:
        result = validate_messages(value)
    except InvalidMessages as exc:
        assert exc.errors and all(loc.startswith("messages") for loc, _ in exc.errors)
    else:  # only a non-empty list of proper messages gets through
        assert isinstance(result, list) and result
        assert all(set(m) >= {"role", "content"} and m["role"] in ROLES for m in result)


def test_errors_name_index_and_field():
    with pytest.raises(InvalidMessages) as info:
        validate_messages([{"role": "user", "content": "ok"}, {"role": "wizard", "content": 3}])
    assert [loc for loc, _ in info.value.errors] == ["messages[1].role", "messages[1].content"]
    assert "messages[1].role" in str(info.value) and "'system', 'user', 'assistant' or 'tool'" in str(info.value)
    assert isinstance(info.value, ValueError) and info.value.fallback_ok is False


def test_empty_list_says_a_message_is_required():
    with pytest.raises(InvalidMessages, match="at least one message is required"):
        validate_messages([])


def test_many_errors_are_summarised():
    with pytest.raises(InvalidMessages) as info:
        validate_messages([{"role": "x", "content": 1}] * 10)
    assert len(info.value.errors) == 20 and "and 15 more" in str(info.value)


def test_total_size_is_bounded():
    validate_messages([{"role": "user", "content": "x" * MAX_PROMPT_CHARS}])
    with pytest.raises(InvalidMessages, match="over the"):
        validate_messages([{"role": "user", "content": "x" * (MAX_PROMPT_CHARS // 2 + 1)}] * 2)


# -- model ids ---------------------------------------------------------------------------------

valid_model = st.text(
    st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"), max_codepoint=0x2FFFF),
    max_size=MAX_MODEL_LENGTH,
)


@given(valid_model)
def test_printable_model_ids_are_accepted_unchanged(model):
    assert validate_model(model) == model


@given(st.one_of(st.text(max_size=300), anything))
def test_any_model_is_accepted_or_model_not_supported(model):
    try:
        assert validate_model(model) == model
    except ModelNotSupported as exc:
        assert not isinstance(model, str) or len(model) > MAX_MODEL_LENGTH or not model.isprintable()
        assert str(exc)
    else:
        assert isinstance(model, str) and model.isprintable()


# -- options -----------------------------------------------------------------------------------


@given(st.floats(min_value=0, max_value=2) | st.integers(min_value=0, max_value=2))
def test_temperature_in_range(t):
    validate_options({"temperature": t})


@given(
    st.floats().filter(lambda t: not 0 <= t <= 2)
    | st.integers().filter(lambda t: not 0 <= t <= 2)
    | st.text()
    | st.booleans()
    | st.lists(st.integers(), max_size=2)
)
def test_temperature_out_of_range_or_wrong_type(t):
    with pytest.raises(InvalidMessages) as info:
        validate_options({"temperature": t})
    assert info.value.errors[0][0] == "temperature"


def test_unknown_options_are_left_to_the_provider():
    validate_options({"system_message": "x", "temperature": None, "whatever": object()})


# -- through create_completion: the error type never leaks anything else -----------------------


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.one_of(valid_messages, anything, st.lists(broken_message, min_size=1, max_size=2)), model=anything)
def test_create_completion_raises_only_typed_errors_for_bad_input(registry, make_provider, messages, model):
    if not registry.providers():
        registry.register(make_provider("Echo", models=["m"]))
    try:
        result = create_completion(model, messages, stream=False, registry=registry)
    except (InvalidMessages, ModelNotSupported) as exc:
        assert isinstance(exc, ProviderError)
    else:
        assert model == "m" and isinstance(result, str)
