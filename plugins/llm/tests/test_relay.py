"""The relay from llm's stream events to provider-core's events, and the finish reason read
from a response's JSON: pure functions, fed plain objects shaped like llm's."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from provider_llm.finish import cut_short, finish_reason
from provider_llm.relay import Relay

from provider_core.events import FinishReason, ToolCall, ToolCallDelta, Usage


def ev(kind: str, chunk: str = "", *, part: int | None = None, call: str | None = None, **extra: Any) -> Any:
    return SimpleNamespace(type=kind, chunk=chunk, part_index=part, tool_call_id=call, **extra)


def run(events: list[Any], tool_calls: list[Any] = (), usage: Any = None, json: Any = None) -> list[Any]:
    relay = Relay()
    out = [item for event in events for item in relay.feed(event)]
    return out + list(relay.finish(list(tool_calls), usage, json))


def test_text_reasoning_and_server_side_tools() -> None:
    items = run(
        [
            ev("reasoning", "thinking", part=0),
            ev("text", "Hel", part=1),
            ev("text", "", part=1),
            ev("tool_call_name", "web_search", part=2, call="srv", server_executed=True),
            ev("tool_result", "results", part=3),
            ev("text", "lo", part=4),
        ]
    )
    assert items == ["Hel", "lo", FinishReason("stop")]


def test_streamed_tool_calls_become_deltas_in_order() -> None:
    items = run(
        [
            ev("text", "Checking.", part=0),
            ev("tool_call_name", "weather", part=1, call="call_a"),
            ev("tool_call_args", '{"city": ', part=1, call="call_a"),
            ev("tool_call_name", "time", part=2, call="call_b"),
            ev("tool_call_args", '"Paris"}', part=1, call="call_a"),
            ev("tool_call_args", "{}", part=2, call="call_b"),
        ],
        tool_calls=[SimpleNamespace(tool_call_id="call_a", name="weather", arguments={"city": "Paris"})],
        usage=SimpleNamespace(input=20, output=9),
    )
    assert items == [
        "Checking.",
        ToolCallDelta(0, id="call_a", name="weather"),
        ToolCallDelta(0, arguments='{"city": '),
        ToolCallDelta(0, arguments='"Paris"}'),
        ToolCallDelta(1, id="call_b", name="time"),  # a call starts with its first arguments
        ToolCallDelta(1, arguments="{}"),
        Usage(20, 9),
        FinishReason("tool_calls"),
    ]


def test_a_name_in_pieces_and_calls_without_ids() -> None:
    relay = Relay()
    items = [
        item
        for event in [
            ev("tool_call_name", "look", part=0),
            ev("tool_call_name", "up", part=0),
            ev("tool_call_args", "{}"),
        ]
        for item in relay.feed(event)
    ]
    start, args = items
    assert (start.index, start.name, start.id.startswith("call_")) == (0, "lookup", True)
    assert args == ToolCallDelta(0, arguments="{}")
    # the finished response lists the same call (no id): not yielded twice
    tail = list(relay.finish([SimpleNamespace(tool_call_id=None, name="lookup", arguments={})], None, None))
    assert tail == [FinishReason("tool_calls")]


def test_a_call_that_never_got_arguments_is_still_started() -> None:
    items = run([ev("tool_call_name", "ping", part=0, call="c1")])
    assert items == [ToolCallDelta(0, id="c1", name="ping"), FinishReason("tool_calls")]


def test_tool_calls_only_on_the_response_are_whole() -> None:
    calls = [
        SimpleNamespace(tool_call_id="w1", name="lookup", arguments={"q": "ü"}),
        SimpleNamespace(tool_call_id=None, name="other", arguments=None),
    ]
    items = run([], tool_calls=calls)
    assert items[0] == ToolCall("w1", "lookup", '{"q": "ü"}')
    assert (items[1].name, items[1].arguments, items[1].id.startswith("call_")) == ("other", "{}", True)
    assert items[2:] == [FinishReason("tool_calls")]


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (SimpleNamespace(input=3, output=None), [Usage(3, 0, 3)]),
        (SimpleNamespace(input=None, output=None), []),
        (None, []),
        (SimpleNamespace(input=10, output=5, details={"cached": 2}), [Usage(10, 5, 15)]),
    ],
)
def test_usage(usage: Any, expected: list[Any]) -> None:
    assert run([ev("text", "x", part=0)], usage=usage)[1:-1] == expected


def test_delivered_counts_text_and_calls() -> None:
    relay = Relay()
    for event in [
        ev("text", "ab", part=0),
        ev("tool_call_name", "f", part=1, call="c"),
        ev("tool_call_args", "{", part=1),
    ]:
        list(relay.feed(event))
    assert (relay.delivered, relay.chars) == (3, 2)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"choices": [{"finish_reason": "length"}]}, "length"),
        ({"choices": [{"finish_reason": "tool_calls"}]}, "tool_calls"),
        ({"object": "chat.completion.chunk", "finish_reason": "content_filter"}, "content_filter"),
        ({"stop_reason": "end_turn"}, "stop"),
        ({"stop_reason": "max_tokens"}, "length"),
        ({"stop_reason": "tool_use"}, "tool_calls"),
        ({"candidates": [{"finishReason": "SAFETY"}]}, "content_filter"),
        ({"candidates": [{"finishReason": "MAX_TOKENS"}]}, "length"),
        ({"choices": []}, None),
        ({"stop_reason": "something new"}, None),
        ("not json", None),
        (None, None),
    ],
)
def test_finish_reason(data: Any, reason: str | None) -> None:
    assert finish_reason(data) == reason


def test_the_finish_reason_from_json_wins_over_the_guess() -> None:
    assert run([ev("text", "x", part=0)], json={"choices": [{"finish_reason": "length"}]})[-1] == FinishReason("length")


def test_cut_short() -> None:
    assert cut_short({"object": "chat.completion.chunk", "content": "Hel"})
    assert not cut_short({"object": "chat.completion.chunk", "content": "Hello", "finish_reason": "stop"})
    assert not cut_short({"content": "", "usage": {}})  # an empty stream: nothing to cut
    assert not cut_short({"choices": [{"finish_reason": None}]})  # not the streamed form
    assert not cut_short(None)
