"""The small immutable records the start-up path uses instead of dataclasses."""

from __future__ import annotations

from typing import ClassVar

import pytest

from provider_core.errors import Attempt
from provider_core.records import Record
from provider_core.routing import RoutePlan


class Point(Record):
    _fields = ("x", "y", "label")
    __slots__ = _fields
    _defaults: ClassVar = {"label": ""}


def test_construction_equality_hash_repr_and_replace():
    p = Point(1, y=2)
    assert (p.x, p.y, p.label) == (1, 2, "")
    assert p == Point(1, 2, "") and p != Point(1, 3) and hash(p) == hash(Point(1, 2))
    assert repr(p) == "Point(x=1, y=2, label='')"
    assert p.replace(label="a") == Point(1, 2, "a") and p.label == ""
    assert p != (1, 2, ""), "not a tuple"


@pytest.mark.parametrize(
    ("args", "kwargs", "why"),
    [
        ((1,), {}, "missing argument 'y'"),
        ((1, 2, 3, 4), {}, "at most 3"),
        ((1,), {"x": 2}, "repeated"),
        ((), {"z": 1}, "unexpected"),
    ],
)
def test_wrong_arguments_are_type_errors(args, kwargs, why):
    with pytest.raises(TypeError, match=why):
        Point(*args, **kwargs)


def test_records_are_immutable():
    p = Point(1, 2)
    with pytest.raises(AttributeError, match="immutable"):
        p.x = 5
    with pytest.raises(AttributeError, match="immutable"):
        del p.y
    with pytest.raises(AttributeError):
        p.other = 1  # no __dict__ either


def test_the_core_records_keep_their_fields_and_text():
    attempt = Attempt("A", "down")
    assert (attempt.provider, attempt.reason, attempt.error, str(attempt)) == ("A", "down", None, "A: down")
    plan = RoutePlan("m", False, ())
    empty = {"model": "m", "stream": False, "alias": None, "strategy": "priority", "candidates": [], "skipped": []}
    assert (plan.skipped, plan.to_dict()) == ((), empty)
    assert (attempt.model, attempt.retry_after) == (None, None)
    assert str(Attempt("A", "down", model="gpt-4o")) == "A (gpt-4o): down"


def test_records_and_the_errors_carrying_them_pickle():
    import pickle

    from provider_core.errors import NoProviderAvailable
    from provider_core.strategy import RoutingConfig

    p = Point(1, 2, "a")
    assert pickle.loads(pickle.dumps(p)) == p
    config = pickle.loads(pickle.dumps(RoutingConfig("least-busy")))
    assert config == RoutingConfig("least-busy") and config.counts_load  # derived again
    error = pickle.loads(pickle.dumps(NoProviderAvailable("m", [Attempt("A", "down", model="m")])))
    assert [str(a) for a in error.attempts] == ["A (m): down"]


def test_the_events_keep_what_their_dataclasses_gave():
    import pickle

    from provider_core.events import FinishReason, ToolCall, ToolCallDelta, Usage

    call = ToolCall("call_1", "weather", '{"city": "Paris"}')
    assert call.to_dict() == {"id": "call_1", "name": "weather", "arguments": '{"city": "Paris"}'}
    assert Usage(3, 4) == Usage(3, 4, 7) and Usage(3, 4).to_dict()["total_tokens"] == 7
    assert repr(FinishReason("stop")) == "FinishReason(reason='stop')"
    assert pickle.loads(pickle.dumps(ToolCallDelta(0, arguments="x"))) == ToolCallDelta(0, arguments="x")
    match Usage(1, 2):
        case Usage(prompt, completion, total):
            assert (prompt, completion, total) == (1, 2, 3)
