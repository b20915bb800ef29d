"""The pure translation the other way: Anthropic replies, stream events, stop reasons, usage
and errors -> what the provider yields. No sockets here."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from provider_anthropic.replies import FINISH_REASONS, StreamReader, finish_reason, reply_events
from provider_anthropic.server_replies import error_event, message, sse, stream_events
from provider_anthropic.wire import parse_error_body

from provider_core.errors import EmptyResponse, ProviderConnectionError, StreamInterrupted, UpstreamError
from provider_core.events import FinishReason, ToolCall, ToolCallDelta, Usage
from provider_core.sse import SSEParser

# -- replies ----------------------------------------------------------------------------------


def test_a_non_streamed_reply_yields_text_tool_calls_usage_finish():
    payload = message("Checking.", [("toolu_01X", "weather", ['{"city": "Zürich"}'])], usage=(31, 12))
    assert reply_events(payload) == [
        "Checking.",
        ToolCall("toolu_01X", "weather", '{"city": "Zürich"}'),
        Usage(31, 12),
        FinishReason("tool_calls"),
    ]


def test_a_non_streamed_reply_with_nothing_in_it_is_empty_and_an_error_body_is_upstream():
    with pytest.raises(EmptyResponse, match="refusal"):
        reply_events(message(None, stop_reason="refusal"))
    with pytest.raises(UpstreamError) as info:
        reply_events({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    assert (info.value.error_type, info.value.fallback_ok) == ("overloaded_error", True)
    with pytest.raises(ValueError):
        reply_events({"id": "x"})


@pytest.mark.parametrize(("stop", "finish"), sorted(FINISH_REASONS.items()))
def test_every_stop_reason_maps(stop, finish):
    assert finish_reason(stop) == finish
    assert reply_events(message("x", stop_reason=stop))[-1] == FinishReason(finish)
    assert read(stream_events(["x"], stop_reason=stop))[-1] == FinishReason(finish)


def test_unknown_or_missing_stop_reasons_are_stop():
    assert (finish_reason("something_new"), finish_reason(None)) == ("stop", "stop")


def take(items: list, got) -> None:
    """Add what ``StreamReader.event`` returned (a text delta's str, or a list) to ``items``."""
    if isinstance(got, str):
        items.append(got)
    else:
        items.extend(got)


def read(events, text: str | None = None, *, secrets=()):
    """Feed ``events`` (or their SSE ``text``) to an SSEParser and a StreamReader."""
    parser = SSEParser()
    reader = StreamReader(secrets=secrets)
    items = []
    for event in parser.feed(sse(*events) if text is None else text):
        take(items, reader.event(event.event, event.data))
    if not reader.done:
        raise reader.cut_short(parser.close())
    return items + reader.finish()


def test_a_stream_yields_text_tool_deltas_in_tool_order_usage_and_finish():
    events = stream_events(
        ["Let me ", "look."],
        [("toolu_01A", "weather", ['{"ci', 'ty": "Paris"}']), ("toolu_01B", "clock", [])],
        thinking=["The user wants...", " two calls"],
        usage=(25, 40),
    )
    assert read(events) == [
        "Let me ",
        "look.",
        ToolCallDelta(0, id="toolu_01A", name="weather"),
        ToolCallDelta(0, arguments='{"ci'),
        ToolCallDelta(0, arguments='ty": "Paris"}'),
        ToolCallDelta(1, id="toolu_01B", name="clock"),
        ToolCallDelta(1, arguments="{}"),  # no fragment came: the arguments are "{}"
        Usage(25, 40),
        FinishReason("tool_calls"),
    ]


def test_usage_takes_the_last_message_delta_and_never_adds_message_starts_output_tokens():
    events = stream_events(["a"], usage=(11, 3))
    later = ("message_delta", {"type": "message_delta", "delta": {}, "usage": {"output_tokens": 9}})
    events.insert(-1, later)
    assert read(events)[-2] == Usage(11, 9, 20)


def test_unknown_events_ping_comments_and_unknown_deltas_are_skipped():
    events = stream_events(["ok"])
    extra = [
        ("some_future_event", {"type": "some_future_event"}),
        ": a comment\n\n",
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "citations_delta"}}),
    ]
    assert read(events[:2] + extra + events[2:])[0] == "ok"


_events = stream_events(
    ["Привет, ", "世界 ", "👋🏽!"], [("toolu_1", "f", ['{"a": ', '"é"}'])], thinking=["..."], usage=(5, 6)
)
_stream_text = sse(*_events, line_ending="\r\n")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, len(_stream_text)), max_size=12))
def test_any_split_of_a_valid_stream_parses_the_same(cuts):
    bounds = [0, *sorted(cuts), len(_stream_text)]
    parser, reader, items = SSEParser(), StreamReader(), []
    for start, end in pairwise(bounds):
        for event in parser.feed(_stream_text[start:end]):
            take(items, reader.event(event.event, event.data))
    assert reader.done
    items += reader.finish()
    assert items == read(_events)
    assert "".join(i for i in items if isinstance(i, str)) == "Привет, 世界 👋🏽!"


# -- errors in a stream ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error_type", "fallback"),
    [("overloaded_error", True), ("api_error", True), ("rate_limit_error", True), ("invalid_request_error", False)],
)
def test_an_error_event_before_the_first_text_is_an_upstream_error(error_type, fallback):
    events = [*stream_events([])[:2], error_event(error_type, "Something happened")]
    with pytest.raises(UpstreamError) as info:
        read(events)
    exc = info.value
    assert (exc.error_type, exc.fallback_ok, exc.retry_after) == (error_type, fallback, None)
    assert str(exc) == f"Anthropic: [{error_type}] Something happened"


def test_an_error_event_after_text_interrupts_saying_how_much_arrived():
    events = [*stream_events(["Hello", ", wor"])[:6], error_event("overloaded_error", "Overloaded")]
    with pytest.raises(StreamInterrupted) as info:
        read(events)
    assert (info.value.received_chars, info.value.received_chunks) == (10, 2)
    assert "after 10 characters" in str(info.value) and "[overloaded_error] Overloaded" in str(info.value)


def test_an_error_event_never_repeats_the_key():
    events = [*stream_events([])[:2], error_event("authentication_error", "bad key sk-ant-secret-777")]
    with pytest.raises(UpstreamError) as info:
        read(events, secrets=("sk-ant-secret-777",))
    assert "sk-ant-secret-777" not in str(info.value) and "[redacted]" in str(info.value)


def test_a_stream_without_message_stop():
    with pytest.raises(StreamInterrupted, match="without message_stop after 2 characters"):
        read(stream_events(["ab"])[:-2])
    with pytest.raises(ProviderConnectionError, match="before any text"):
        read(stream_events([])[:2])
    with pytest.raises(StreamInterrupted, match="in the middle of an event"):
        read(None, text=sse(*stream_events(["ab"])[:5]) + "event: content_block_delta\ndata: {")


def test_a_stream_with_nothing_in_it_is_empty():
    with pytest.raises(EmptyResponse):
        read(stream_events([]))


def test_error_bodies_parse_to_message_and_type():
    body = json.dumps({"type": "error", "error": {"type": "rate_limit_error", "message": "Slow down"}})
    assert parse_error_body(body.encode()) == ("Slow down", "rate_limit_error", None)
    assert parse_error_body(b"<html>bad gateway</html>") is None
    assert parse_error_body(b'{"type": "error"}') is None
