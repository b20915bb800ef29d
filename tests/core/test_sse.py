"""The SSE parser: the rules one by one, then properties over any split of any stream."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from provider_core.sse import SSEEvent, SSEParser, iter_events
from provider_core.streaming import Utf8StreamDecoder


def parse(*pieces: str) -> tuple[list[SSEEvent], bool]:
    parser = SSEParser()
    events = [e for piece in pieces for e in parser.feed(piece)]
    return events, parser.close()


def parse_bytes(data: bytes, cuts: list[int]) -> tuple[list[SSEEvent], bool]:
    """Cut ``data`` at ``cuts`` (byte offsets), decode each piece incrementally, parse."""
    decoder = Utf8StreamDecoder()
    parser = SSEParser()
    events: list[SSEEvent] = []
    bounds = [0, *sorted(cuts), len(data)]
    for start, end in itertools.pairwise(bounds):
        events += parser.feed(decoder.decode(data[start:end]))
    events += parser.feed(decoder.flush())
    return events, parser.close()


# -- the rules ------------------------------------------------------------------------


def test_data_lines_and_the_blank_line_dispatch():
    events, truncated = parse('data: {"a": 1}\n\ndata: [DONE]\n\n')
    assert events == [SSEEvent('{"a": 1}'), SSEEvent("[DONE]")]
    assert not truncated


def test_multi_line_data_is_joined_with_newlines():
    assert parse("data: one\ndata: two\ndata:\ndata: three\n\n")[0] == [SSEEvent("one\ntwo\n\nthree")]


def test_one_space_after_the_colon_is_dropped_and_only_one():
    assert parse("data:x\n\ndata: x\n\ndata:  x\n\n")[0] == [SSEEvent("x"), SSEEvent("x"), SSEEvent(" x")]


def test_comments_are_ignored_anywhere():
    events, _ = parse(": keep-alive\n\n: hi\ndata: a\n: between\ndata: b\n\n:\n\n")
    assert events == [SSEEvent("a\nb")]


def test_event_type_id_and_retry():
    text = "event: error\nid: 7\nretry: 1500\ndata: boom\n\ndata: next\n\n"
    assert parse(text)[0] == [SSEEvent("boom", "error", "7", 1500), SSEEvent("next", "message", "7", 1500)]


def test_an_event_without_data_is_not_dispatched_and_its_type_does_not_leak():
    assert parse("event: ping\n\ndata: a\n\n")[0] == [SSEEvent("a")]


def test_a_field_without_colon_has_an_empty_value_and_unknown_fields_are_ignored():
    assert parse("data\ndata\n\nfoo: bar\ndata: x\n\n")[0] == [SSEEvent("\n"), SSEEvent("x")]


def test_bad_retry_and_nul_in_id_are_ignored():
    assert parse("retry: 1x\nid: a\0b\ndata: x\n\n")[0] == [SSEEvent("x", "message", None, None)]


def test_crlf_lf_and_lone_cr_line_endings():
    assert parse("data: a\r\n\r\ndata: b\r\rdata: c\n\n")[0] == [SSEEvent("a"), SSEEvent("b"), SSEEvent("c")]


def test_crlf_split_between_two_chunks_is_one_line_ending():
    assert parse("data: a\r", "\ndata: b\r", "\n\r", "\n") == ([SSEEvent("a\nb")], False)
    assert parse("data: a\r", "\r", "\ndata: b\n\n") == ([SSEEvent("a"), SSEEvent("b")], False)


def test_a_byte_order_mark_at_the_start_is_skipped_only_there():
    assert parse("\ufeffdata: a\n\n")[0] == [SSEEvent("a")]
    assert parse("\ufeff", "data: a\n\n")[0] == [SSEEvent("a")]
    assert parse("data: \ufeffa\n\n")[0] == [SSEEvent("\ufeffa")]


def test_an_unterminated_event_at_the_end_is_dropped_and_reported():
    assert parse("data: a\n\ndata: b\n") == ([SSEEvent("a")], True)
    assert parse("data: a\n\ndata: b") == ([SSEEvent("a")], True)
    assert parse("data: a\n\n: comment") == ([SSEEvent("a")], True)
    assert parse("data: a\n\n") == ([SSEEvent("a")], False)


def test_a_long_line_split_in_many_pieces():
    value = "x" * 100_000
    text = f"data: {value}\n\n"
    pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
    assert parse(*pieces)[0] == [SSEEvent(value)]


def test_iter_events_closes_its_source():
    closed = []

    def source():
        try:
            yield "data: a\n\n"
            yield "data: b\n\n"
        finally:
            closed.append(True)

    events = iter_events(source())
    assert next(events) == SSEEvent("a")
    events.close()
    assert closed == [True]


# -- properties ---------------------------------------------------------------------------

_VALUE = st.text(st.characters(blacklist_characters="\r\n\0", blacklist_categories=("Cs",)), max_size=12)
_ENDING = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def streams(draw: st.DrawFn) -> tuple[str, list[SSEEvent]]:
    """A valid event stream and the events it holds."""
    text = draw(st.sampled_from(["", "\ufeff"]))
    expected = []
    last_id: str | None = None
    last_retry: int | None = None
    for _ in range(draw(st.integers(0, 6))):
        end = draw(_ENDING)  # one ending per event: "\r" then a blank "\n" line would be one CRLF
        lines = []
        if draw(st.booleans()):
            lines.append(":" + draw(_VALUE))
        kind = draw(st.none() | _VALUE.filter(bool))
        if kind is not None:
            lines.append(f"event: {kind}")
        if draw(st.booleans()):
            last_id = draw(_VALUE)
            lines.append(f"id: {last_id}")
        if draw(st.booleans()):
            last_retry = draw(st.integers(0, 10**6))
            lines.append(f"retry: {last_retry}")
        data = draw(st.lists(_VALUE, min_size=1, max_size=4))
        for value in data:
            spaced = draw(st.booleans()) or value.startswith(" ")
            lines.append("data:" + (" " if spaced else "") + value)
            if draw(st.booleans()):
                lines.append(": " + draw(_VALUE))
        text += end.join(lines) + end + end
        expected.append(SSEEvent("\n".join(data), kind or "message", last_id, last_retry))
    return text, expected


@settings(max_examples=300, deadline=None)
@given(streams(), st.data())
def test_any_split_of_a_valid_stream_gives_its_events(stream: tuple[str, list[SSEEvent]], data: st.DataObject):
    text, expected = stream
    raw = text.encode("utf-8")
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=40))
    assert parse_bytes(raw, cuts) == (expected, False)


@settings(max_examples=100, deadline=None)
@given(streams())
def test_one_byte_at_a_time(stream: tuple[str, list[SSEEvent]]):
    text, expected = stream
    raw = text.encode("utf-8")
    assert parse_bytes(raw, list(range(len(raw)))) == (expected, False)


_NOISE = st.sampled_from(["\r", "\n", ":", " ", "d", "a", "t", "data", "event", "id", "é", "\ufeff", "x"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_NOISE, max_size=30).map("".join), st.data())
def test_any_text_parses_the_same_whole_or_split(text: str, data: st.DataObject):
    """Even for streams that are not valid, where a chunk boundary falls never matters."""
    raw = text.encode("utf-8")
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=20))
    assert parse_bytes(raw, cuts) == parse(text)


_HEAD = st.sampled_from(
    ["data:", "data: ", "data:  ", "event: e\ndata: ", "event:\ndata:", "event: e\r\ndata: ", ":c\n", ""]
)
_TAIL = st.sampled_from(["\n\n", "\r\n\r\n", "\r\n\n", "\n\r\n", "\r\r", "\n", "\n\n\n", ""])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_HEAD, st.lists(_NOISE, max_size=6).map("".join), _TAIL).map("".join), max_size=8))
def test_chunks_that_are_whole_events_parse_as_one_character_at_a_time(chunks: list[str]):
    """Servers flush one whole event per chunk; the parser reads such a chunk its own way
    (with the ``event:`` line of a named event), which must not change what it gives."""
    assert parse(*chunks) == parse(*"".join(chunks))


def test_whole_event_chunks():
    assert parse("data: a\r\n\r\n", "event: e\ndata:b\n\n", "event:\ndata: c\n\n", "data: x\rdata: y\n\n") == (
        [SSEEvent("a"), SSEEvent("b", "e"), SSEEvent("c"), SSEEvent("x\ny")],
        False,
    )
