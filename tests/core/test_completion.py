"""create_completion: validation before any call, fallback only before the first chunk,
StreamInterrupted after it, stream=False, pinned providers, and closing early."""

from __future__ import annotations

import warnings

import pytest

from provider_core import (
    Completion,
    EmptyResponse,
    FallbackWarning,
    InvalidMessages,
    ModelNotSupported,
    NoProviderAvailable,
    ProviderContractError,
    ProviderError,
    ProviderNotFound,
    ProviderNotWorkingWarning,
    StreamInterrupted,
    create_completion,
)

HELLO = [{"role": "user", "content": "hello"}]


class Calls:
    """Records which providers were called."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def body(self, *chunks, fail_after: BaseException | None = None, fail_before: BaseException | None = None):
        def run(cls, model, messages, stream, **kwargs):
            self.names.append(cls.name)
            if fail_before is not None:
                raise fail_before
            yield from chunks
            if fail_after is not None:
                raise fail_after

        return run


@pytest.fixture
def calls() -> Calls:
    return Calls()


# -- validation happens before any provider is called ------------------------------------------


@pytest.mark.parametrize(
    ("messages", "kwargs", "location"),
    [
        ([], {}, "messages"),
        ([{"role": "robot", "content": "hi"}], {}, "messages[0].role"),
        ([{"role": "user", "content": "ok"}, {"role": "user", "content": 5}], {}, "messages[1].content"),
        ([{"role": "user"}], {}, "messages[0].content"),
        ([{"role": "user", "content": "hi", "extra": 1}], {}, "messages[0].extra"),
        ("hello", {}, "messages"),
        (None, {}, "messages"),
        (HELLO, {"temperature": 2.5}, "temperature"),
        (HELLO, {"temperature": -0.1}, "temperature"),
        (HELLO, {"temperature": float("nan")}, "temperature"),
        (HELLO, {"temperature": float("inf")}, "temperature"),
        (HELLO, {"temperature": 10**400}, "temperature"),  # too large for a float: still this error
        (HELLO, {"top_p": -(10**400)}, "top_p"),
        (HELLO, {"temperature": "0.5"}, "temperature"),
        (HELLO, {"temperature": True}, "temperature"),
    ],
)
def test_invalid_input_is_refused_before_any_call(registry, make_provider, calls, messages, kwargs, location):
    registry.register(make_provider("P", body=calls.body("x")))
    with pytest.raises(InvalidMessages) as info:
        create_completion("m", messages, registry=registry, **kwargs)
    assert any(loc == location for loc, _ in info.value.errors), info.value.errors
    assert location in str(info.value)
    assert calls.names == []


@pytest.mark.parametrize("temperature", [0, 0.0, 1, 2, 2.0, 0.7, None])
def test_temperature_in_range_is_accepted_and_passed_on(registry, make_provider, temperature):
    seen = {}

    def body(cls, model, messages, stream, **kwargs):
        seen.update(kwargs)
        yield "ok"

    registry.register(make_provider("P", body=body))
    assert create_completion("m", HELLO, stream=False, registry=registry, temperature=temperature) == "ok"
    # None is the signature's default (contract v2): "not given", so not sent
    assert seen == ({"temperature": temperature} if temperature is not None else {})


def test_unknown_model_is_refused_before_any_call(registry, make_provider, calls):
    registry.register(make_provider("P", body=calls.body("x")))
    with pytest.raises(ModelNotSupported):
        create_completion("nope", HELLO, registry=registry)
    assert calls.names == []


def test_messages_are_passed_as_validated(registry, make_provider):
    seen = []

    def body(cls, model, messages, stream, **kwargs):
        seen.append((model, messages, stream))
        yield "ok"

    registry.register(make_provider("P", body=body))
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert "".join(create_completion("m", msgs, registry=registry)) == "ok"
    assert seen == [("m", msgs, True)]


# -- the happy path ----------------------------------------------------------------------------


def test_stream_returns_a_completion_of_chunks(registry, make_provider, calls):
    registry.register(make_provider("P", body=calls.body("a", "", "b", "c")))
    result = create_completion("m", HELLO, registry=registry)
    assert isinstance(result, Completion)
    assert calls.names == []  # nothing is sent until the first chunk is asked for
    assert list(result) == ["a", "b", "c"]  # empty chunks are dropped
    assert result.provider == "P" and result.attempts == [] and result.received_chars == 3


def test_received_chars_counts_as_chunks_are_taken(registry, make_provider, calls):
    registry.register(make_provider("P", body=calls.body("abc", "de")))
    completion = create_completion("m", HELLO, registry=registry)
    assert completion.received_chars == 0 and completion.provider is None
    assert next(completion) == "abc"
    assert completion.received_chars == 3 and completion.provider == "P"
    assert next(completion) == "de"
    assert completion.received_chars == 5


def test_stream_false_returns_one_string(registry, make_provider, calls):
    registry.register(make_provider("P", body=calls.body("Hel", "lo ", "wörld")))
    assert create_completion("m", HELLO, stream=False, registry=registry) == "Hello wörld"


def test_uses_the_process_wide_registry_by_default(default_registry, make_provider, calls):
    default_registry.register(make_provider("P", body=calls.body("x")))
    assert create_completion("m", HELLO, stream=False) == "x"


def test_a_provider_may_return_a_list(registry, make_provider):
    registry.register(make_provider("P", body=lambda cls, model, messages, stream, **kw: ["a", "b"]))
    assert create_completion("m", HELLO, stream=False, registry=registry) == "ab"


# -- fallback before the first chunk -----------------------------------------------------------


def test_fallback_before_first_chunk_warns_and_records(registry, make_provider, calls):
    registry.register(
        make_provider("A", priority=2, body=calls.body(fail_before=ProviderError("a is down", provider="A")))
    )
    registry.register(make_provider("B", priority=1, body=calls.body("from b")))
    with pytest.warns(FallbackWarning, match="fell back to B after: A: ProviderError: a is down"):
        completion = create_completion("m", HELLO, registry=registry)
        assert list(completion) == ["from b"]
    assert calls.names == ["A", "B"]
    assert completion.provider == "B"
    assert [(a.provider, type(a.error).__name__) for a in completion.attempts] == [("A", "ProviderError")]


@pytest.mark.parametrize(
    "failing_body",
    [
        pytest.param(lambda cls, model, messages, stream, **kw: iter([]), id="empty-iterator"),
        pytest.param(lambda cls, model, messages, stream, **kw: iter(["", ""]), id="only-empty-chunks"),
        pytest.param(lambda cls, model, messages, stream, **kw: None, id="returns-None"),
        pytest.param(lambda cls, model, messages, stream, **kw: "a string", id="returns-str"),
        pytest.param(lambda cls, model, messages, stream, **kw: 42, id="returns-int"),
        pytest.param(lambda cls, model, messages, stream, **kw: iter([b"bytes"]), id="yields-bytes"),
        pytest.param(lambda cls, model, messages, stream, **kw: 1 / 0, id="raises-bare-exception"),
        pytest.param(lambda cls, model, messages, stream, **kw: iter([None]), id="yields-None"),
    ],
)
def test_misbehaving_first_candidate_falls_back(registry, make_provider, failing_body):
    registry.register(make_provider("Bad", priority=1, body=failing_body))
    registry.register(make_provider("Good", body=lambda cls, model, messages, stream, **kw: iter(["fine"])))
    with pytest.warns(FallbackWarning):
        completion = create_completion("m", HELLO, registry=registry)
        assert list(completion) == ["fine"]
    (attempt,) = completion.attempts
    assert attempt.provider == "Bad" and attempt.error is not None


def test_empty_response_falls_back(registry, make_provider, calls):
    registry.register(make_provider("Silent", priority=1, body=calls.body()))
    registry.register(make_provider("Talker", body=calls.body("hi")))
    with pytest.warns(FallbackWarning):
        completion = create_completion("m", HELLO, registry=registry)
        assert "".join(completion) == "hi"
    assert isinstance(completion.attempts[0].error, EmptyResponse)


def test_non_str_result_is_a_contract_error(registry, make_provider):
    registry.register(make_provider("Bytes", body=lambda cls, model, messages, stream, **kw: iter([b"x"])))
    registry.register(make_provider("Nothing", body=lambda cls, model, messages, stream, **kw: None))
    with pytest.raises(NoProviderAvailable) as info:
        create_completion("m", HELLO, stream=False, registry=registry)
    rules = {a.provider: getattr(a.error, "rule", None) for a in info.value.attempts}
    assert rules == {"Bytes": "chunk-str", "Nothing": "result-iterator"}
    assert all(isinstance(a.error, ProviderContractError) for a in info.value.attempts)


def test_no_fallback_for_an_error_of_the_request(registry, make_provider, calls):
    refusal = InvalidMessages([("messages[0].content", "too long for this provider")], provider="Strict")
    registry.register(make_provider("Strict", priority=1, body=calls.body(fail_before=refusal)))
    registry.register(make_provider("Lenient", body=calls.body("ok")))
    with pytest.raises(InvalidMessages):
        list(create_completion("m", HELLO, registry=registry))
    assert calls.names == ["Strict"]


def test_all_candidates_failing_lists_each(registry, make_provider, calls):
    registry.register(make_provider("A", priority=3, body=calls.body(fail_before=ProviderError("boom a"))))
    registry.register(make_provider("B", priority=2, body=calls.body(fail_before=ValueError("boom b"))))
    registry.register(make_provider("C", priority=1, body=calls.body()))
    registry.register(make_provider("Down", working=False, body=calls.body("never")))
    with pytest.raises(NoProviderAvailable) as info:
        list(create_completion("m", HELLO, registry=registry))
    err = info.value
    text = str(err)
    assert calls.names == ["A", "B", "C"]
    for piece in (
        "A: ProviderError: boom a",
        "B: raised ValueError: boom b",
        "C: EmptyResponse",
        "Down: marked not working",
    ):
        assert piece in text
    assert [a.provider for a in err.attempts] == ["Down", "A", "B", "C"]
    assert isinstance(err.__cause__, EmptyResponse)


def test_one_candidate_failing_raises_its_own_typed_error(registry, make_provider, calls):
    registry.register(make_provider("Only", body=calls.body(fail_before=ProviderError("down for maintenance"))))
    with pytest.raises(ProviderError, match="down for maintenance") as info:
        list(create_completion("m", HELLO, registry=registry))
    assert type(info.value) is ProviderError


def test_no_fallback_after_the_first_chunk(registry, make_provider, calls):
    registry.register(make_provider("A", priority=1, body=calls.body("Hel", "lo", fail_after=ConnectionError("reset"))))
    registry.register(make_provider("B", body=calls.body("never used")))
    received = []
    completion = create_completion("m", HELLO, registry=registry)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no FallbackWarning: nothing is switched
        with pytest.raises(StreamInterrupted) as info:
            for chunk in completion:
                received.append(chunk)
    err = info.value
    assert received == ["Hel", "lo"]
    assert calls.names == ["A"]
    assert (err.provider, err.received_chars, err.received_chunks) == ("A", 5, 2)
    assert err.partial_text is None  # streaming: the caller holds the text, the library keeps no copy
    assert "A stopped after 5 characters (2 chunks)" in str(err) and "ConnectionError: reset" in str(err)
    assert isinstance(err.__cause__, ConnectionError)


def test_non_str_chunk_after_the_first_is_an_interruption(registry, make_provider, calls):
    registry.register(make_provider("A", body=calls.body("ok", 7)))
    with pytest.raises(StreamInterrupted) as info:
        list(create_completion("m", HELLO, registry=registry))
    assert isinstance(info.value.__cause__, ProviderContractError)
    assert info.value.received_chars == 2


def test_stream_false_interruption_carries_the_partial_text(registry, make_provider, calls):
    registry.register(make_provider("A", body=calls.body("part ", "one", fail_after=OSError("gone"))))
    with pytest.raises(StreamInterrupted) as info:
        create_completion("m", HELLO, stream=False, registry=registry)
    assert info.value.partial_text == "part one"
    assert info.value.received_chars == len("part one")


# -- naming a provider -------------------------------------------------------------------------


def test_pinned_provider_bypasses_routing(registry, make_provider, calls):
    registry.register(make_provider("Preferred", priority=9, body=calls.body("preferred")))
    registry.register(make_provider("Chosen", body=calls.body("chosen")))
    assert create_completion("m", HELLO, stream=False, provider="chosen", registry=registry) == "chosen"
    assert calls.names == ["Chosen"]


def test_pinned_not_working_provider_warns_and_is_called(registry, make_provider, calls):
    registry.register(make_provider("Aivvm", working=False, body=calls.body("still here")))
    with pytest.raises(NoProviderAvailable):
        create_completion("m", HELLO, registry=registry)
    with pytest.warns(ProviderNotWorkingWarning, match=r"Aivvm is marked not working; calling it because it was named"):
        assert create_completion("m", HELLO, stream=False, provider="aivvm", registry=registry) == "still here"


def test_pinned_non_streaming_provider_is_still_called_when_streaming(registry, make_provider, calls):
    registry.register(make_provider("Block", supports_stream=False, body=calls.body("all at once")))
    assert list(create_completion("m", HELLO, provider="Block", registry=registry)) == ["all at once"]


def test_pinned_provider_failing_raises_its_error_without_fallback(registry, make_provider, calls):
    registry.register(make_provider("Pinned", body=calls.body(fail_before=ProviderError("nope"))))
    registry.register(make_provider("Other", body=calls.body("other")))
    with pytest.raises(ProviderError, match="nope"):
        list(create_completion("m", HELLO, provider="Pinned", registry=registry))
    assert calls.names == ["Pinned"]


def test_pinned_unknown_provider(registry, make_provider):
    registry.register(make_provider("Real"))
    with pytest.raises(ProviderNotFound, match=r"'Fake'.*Real"):
        create_completion("m", HELLO, provider="Fake", registry=registry)


def test_pinned_provider_and_a_model_it_does_not_serve(registry, make_provider):
    registry.register(make_provider("Real", models=["gpt-4", "gpt-4-32k"]))
    with pytest.raises(ModelNotSupported) as info:
        create_completion("gpt4", HELLO, provider="Real", registry=registry)
    assert info.value.provider == "Real" and "gpt-4" in info.value.suggestions


def test_pinned_provider_with_empty_model_uses_its_default(registry, make_provider):
    seen = []

    def body(cls, model, messages, stream, **kwargs):
        seen.append(model)
        yield "ok"

    registry.register(make_provider("Real", body=body, default_model="m"))
    assert create_completion("", HELLO, stream=False, provider="Real", registry=registry) == "ok"
    assert seen == ["m"]  # the core asks the provider for its default_model (validated once, in the core)


def test_pinned_provider_class_is_checked_against_the_contract(registry, make_provider):
    broken = make_provider("Broken", working="yes")
    with pytest.raises(ProviderContractError):
        create_completion("m", HELLO, provider=broken, registry=registry)


@pytest.mark.parametrize("provider", [42, 3.5, object()])
def test_pinned_provider_of_a_wrong_type(registry, make_provider, provider):
    registry.register(make_provider("Real"))
    with pytest.raises(ProviderNotFound):
        create_completion("m", HELLO, provider=provider, registry=registry)


# -- closing early -----------------------------------------------------------------------------


def test_closing_a_completion_closes_the_provider_iterator(registry, make_provider):
    state = {"closed": False, "produced": 0}

    def body(cls, model, messages, stream, **kwargs):
        try:
            for i in range(1000):
                state["produced"] += 1
                yield f"chunk{i} "
        finally:
            state["closed"] = True

    registry.register(make_provider("Long", body=body))
    completion = create_completion("m", HELLO, registry=registry)
    assert next(completion) == "chunk0 " and next(completion) == "chunk1 "
    assert state == {"closed": False, "produced": 2}
    completion.close()
    assert state == {"closed": True, "produced": 2}
    with pytest.raises(StopIteration):
        next(completion)


def test_leaving_a_with_block_closes_the_provider_iterator(registry, make_provider):
    closed = []

    def body(cls, model, messages, stream, **kwargs):
        try:
            yield "a"
            yield "b"
        finally:
            closed.append(True)

    registry.register(make_provider("P", body=body))
    with create_completion("m", HELLO, registry=registry) as completion:
        assert next(completion) == "a"
    assert closed == [True]


def test_a_failing_candidate_iterator_is_closed_before_fallback(registry, make_provider):
    closed = []

    class Source:
        def __iter__(self):
            return self

        def __next__(self):
            raise ProviderError("no first chunk")

        def close(self):
            closed.append("first")

    registry.register(make_provider("A", priority=1, body=lambda cls, model, messages, stream, **kw: Source()))
    registry.register(make_provider("B", body=lambda cls, model, messages, stream, **kw: iter(["b"])))
    with pytest.warns(FallbackWarning):
        assert create_completion("m", HELLO, stream=False, registry=registry) == "b"
    assert closed == ["first"]


def test_keyboard_interrupt_is_not_swallowed(registry, make_provider, calls):
    registry.register(make_provider("A", priority=1, body=calls.body(fail_before=KeyboardInterrupt())))
    registry.register(make_provider("B", body=calls.body("b")))
    with pytest.raises(KeyboardInterrupt):
        list(create_completion("m", HELLO, registry=registry))
    assert calls.names == ["A"]
