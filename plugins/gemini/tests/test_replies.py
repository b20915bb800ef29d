"""The reply side, pure: Gemini replies, stream frames, finish reasons, usage, error bodies,
and the thought-signature memory."""

from __future__ import annotations

import itertools
import json
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from provider_gemini.replies import FINISH_REASONS, ReplyState, map_finish_reason, new_call_id, parse_model_page
from provider_gemini.server_replies import (
    error_body,
    function_call_part,
    response,
    sse,
    text_part,
    thought_part,
    usage_metadata,
)
from provider_gemini.signatures import SignatureMemory
from provider_gemini.wire_errors import ContentFiltered, ErrorRecorder, error_details, parse_error_body

from provider_core.errors import EmptyResponse
from provider_core.events import FinishReason, ToolCall, Usage
from provider_core.sse import SSEParser


def ids():
    counter = itertools.count(1)
    return lambda: f"call_{next(counter)}"


def test_text_thoughts_and_function_calls_in_order():
    state = ReplyState(ids())
    parts = [
        thought_part("thinking..."),
        text_part("Checking "),
        function_call_part("weather", {"city": "Paris"}, signature="c2ln"),
        function_call_part("time", call_id="fc-9"),
        text_part(""),
    ]
    items = state.feed(response(parts, finish_reason="STOP", usage=usage_metadata(10, 5, thoughts=7)))
    assert items == [
        "Checking ",
        ToolCall("call_1", "weather", '{"city": "Paris"}'),
        ToolCall("fc-9", "time", "{}"),
    ]
    assert state.signatures == [("call_1", "c2ln")]
    assert state.closing_events() == [Usage(10, 12), FinishReason("tool_calls")]
    assert Usage(10, 12).total_tokens == 22


def test_usage_comes_from_the_last_frame_that_has_it():
    state = ReplyState()
    state.feed(response([text_part("a")], usage=usage_metadata(3, 1)))
    state.feed(response([text_part("b")]))
    state.feed(response([], finish_reason="MAX_TOKENS", usage=usage_metadata(3, 9)))
    state.feed(response([]))
    assert state.closing_events() == [Usage(3, 9), FinishReason("length")]


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("LANGUAGE", "content_filter"),
        ("OTHER", "stop"),
        ("MALFORMED_FUNCTION_CALL", "stop"),
        ("FINISH_REASON_UNSPECIFIED", "stop"),
        ("A_REASON_FROM_THE_FUTURE", "stop"),
    ],
)
def test_finish_reasons(reason, expected):
    assert map_finish_reason(reason, called=False) == expected
    assert map_finish_reason(reason, called=True) == "tool_calls"


def test_every_mapped_reason_is_a_core_reason():
    from provider_core.events import FINISH_REASONS as CORE

    assert set(FINISH_REASONS.values()) <= set(CORE)


def test_a_blocked_prompt_is_content_filtered():
    state = ReplyState()
    assert state.feed(response(block_reason="PROHIBITED_CONTENT", usage=usage_metadata(4, 0))) == []
    assert state.empty
    error = state.empty_error("Gemini")
    assert isinstance(error, ContentFiltered) and isinstance(error, EmptyResponse)
    assert (error.reason, error.finish_reason, error.fallback_ok) == ("PROHIBITED_CONTENT", "content_filter", True)
    assert "PROHIBITED_CONTENT" in str(error)


def test_a_reply_blocked_before_any_text_is_content_filtered_and_other_empties_say_why():
    state = ReplyState()
    state.feed(response([], finish_reason="SAFETY"))
    assert isinstance(state.empty_error("Gemini"), ContentFiltered)
    state = ReplyState()
    state.feed(response([thought_part("hmm")], finish_reason="MALFORMED_FUNCTION_CALL"))
    error = state.empty_error("Gemini")
    assert type(error) is EmptyResponse and "MALFORMED_FUNCTION_CALL" in str(error)


def test_frames_that_are_not_objects_are_refused():
    with pytest.raises(ValueError):
        ReplyState().feed([1, 2])


def test_call_ids_are_fresh():
    assert new_call_id() != new_call_id()
    assert new_call_id().startswith("call_") and len(new_call_id()) == 29


def test_model_pages():
    page = {
        "models": [
            {"name": "models/gemini-3.8-flash", "supportedGenerationMethods": ["generateContent", "countTokens"]},
            {"name": "models/text-embedding-004", "supportedGenerationMethods": ["embedContent"]},
            {"name": "models/aqa"},
        ],
        "nextPageToken": "abc",
    }
    assert parse_model_page(page) == (["gemini-3.8-flash"], "abc")
    assert parse_model_page({}) == ([], None)
    with pytest.raises(ValueError):
        parse_model_page({"models": "nope"})


def test_error_bodies():
    body = error_body(
        429,
        "Quota exceeded",
        details=[
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED"},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37.5s"},
        ],
    )
    details = error_details(body)
    assert (details.status, details.code, details.reason, details.retry_after) == (
        "RESOURCE_EXHAUSTED",
        429,
        "RATE_LIMIT_EXCEEDED",
        37.5,
    )
    assert parse_error_body(json.dumps(body).encode()) == (
        "Quota exceeded",
        "RESOURCE_EXHAUSTED",
        "RATE_LIMIT_EXCEEDED",
    )
    assert parse_error_body(json.dumps(error_body(500, "x")).encode()) == ("x", "INTERNAL", "500")
    assert parse_error_body(b"<html>") is None
    assert error_details({"candidates": []}) is None
    key = error_details(
        error_body(
            400,
            "API key not valid.",
            details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        )
    )
    assert key.key_refused and not key.request_invalid
    assert error_details(error_body(400, "bad")).request_invalid
    recorder = ErrorRecorder()
    assert recorder(json.dumps(body).encode())[1] == "RESOURCE_EXHAUSTED"
    assert recorder.details.retry_after == 37.5


def test_signature_memory_is_bounded_and_least_recently_used_goes_first():
    memory = SignatureMemory(capacity=2)
    memory.remember("a", "1")
    memory.remember("b", "2")
    assert memory.recall("a") == "1"
    memory.remember("c", "3")
    assert (memory.recall("a"), memory.recall("b"), memory.recall("c"), len(memory)) == ("1", None, "3", 2)
    with pytest.raises(ValueError):
        SignatureMemory(0)


def test_signature_memory_is_safe_across_threads():
    memory = SignatureMemory(capacity=100)
    start = threading.Barrier(4)

    def work(n: int) -> None:
        start.wait()
        for i in range(500):
            memory.remember(f"{n}-{i}", str(i))
            memory.recall(f"{n}-{i - 1}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(memory) == 100


STREAM_FRAMES = [
    response([text_part("Привет, ")]),
    response([thought_part("🤔")]),
    response([text_part("世界 👋🏽 — "), function_call_part("f", {"q": "naïve"}, signature="c2ln")]),
    response([text_part("done")], finish_reason="STOP", usage=usage_metadata(5, 6)),
]


def _parse(chunks: list[str]) -> tuple[list, list]:
    parser = SSEParser()
    state = ReplyState(ids())
    items = []
    for chunk in chunks:
        for event in parser.feed(chunk):
            items += state.feed(json.loads(event.data))
    assert not parser.close()
    return items, state.closing_events()


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["\r\n", "\n", "\r"]), st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_any_split_of_a_stream_parses_the_same(line_ending, cuts):
    text = sse(*STREAM_FRAMES, line_ending=line_ending)
    bounds = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    chunks = [text[a:b] for a, b in itertools.pairwise(bounds)]
    assert _parse(chunks) == _parse([text])
    items, closing = _parse(chunks)
    assert "".join(i for i in items if isinstance(i, str)) == "Привет, 世界 👋🏽 — done"
    assert closing == [Usage(5, 6), FinishReason("tool_calls")]


FRAME_SHAPES = [
    response([text_part("plain 世界")], usage=usage_metadata(3, 0)),
    response([text_part("")]),
    response([thought_part("hm")]),
    response([text_part("last")], finish_reason="STOP", usage=usage_metadata(3, 4)),
    response([text_part("a"), text_part("b")]),
    response([function_call_part("f", {"x": 1}, signature="c2ln")]),
    response(block_reason="SAFETY"),
    {"candidates": [{"content": {"parts": [{"text": "second"}]}, "index": 1}]},
    {"candidates": [{"content": {"parts": [{"text": "x", "thought": False}]}}], "promptFeedback": {}},
    {"candidates": []},
    {"candidates": "odd"},
    {"candidates": [{"content": {"parts": [{"text": 3}]}}]},
    {"candidates": [{"content": {"parts": "x"}}]},
    {"candidates": [{"content": None}]},
    {},
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(FRAME_SHAPES), max_size=8))
def test_the_fast_path_reads_a_frame_as_feed_does_or_leaves_it_to_feed(frames):
    """``text_of`` (the stream's hot path) either reads a frame exactly as ``feed`` would,
    or returns None and leaves it to ``feed``: the items and the end state are the same."""
    fast, slow = ReplyState(ids()), ReplyState(ids())
    for frame in frames:
        text = fast.text_of(frame)
        assert (fast.feed(frame) if text is None else [text]) == slow.feed(frame)
    assert (fast.text_chars, fast.calls, fast.finished) == (slow.text_chars, slow.calls, slow.finished)
    assert fast.closing_events() == slow.closing_events()
