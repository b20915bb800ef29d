"""streaming.iter_text, with Hypothesis: whatever the chunking, the text is exact; invalid bytes
decode exactly as ``bytes.decode("utf-8", "replace")`` of the whole."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from provider_core.streaming import Utf8StreamDecoder, iter_text, json_loads


@st.composite
def chunked(draw, data: st.SearchStrategy[bytes]) -> tuple[bytes, list[bytes]]:
    """``data`` and a random split of it into chunks (empty chunks included)."""
    whole = draw(data)
    cuts = sorted(draw(st.lists(st.integers(0, len(whole)), max_size=12)))
    bounds = [0, *cuts, len(whole)]
    return whole, [whole[a:b] for a, b in itertools.pairwise(bounds)]


@given(st.text().flatmap(lambda t: chunked(st.just(t.encode("utf-8")))))
def test_any_text_any_chunking_is_exact(case):
    whole, chunks = case
    out = list(iter_text(iter(chunks)))
    assert "".join(out) == whole.decode("utf-8")
    assert all(out), "no empty chunks"


@given(chunked(st.binary(max_size=64)))
def test_invalid_bytes_decode_like_the_whole(case):
    whole, chunks = case
    assert "".join(iter_text(chunks)) == whole.decode("utf-8", "replace")


@given(
    chunked(
        st.lists(
            st.sampled_from(
                [b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\xd0\x96", b"a", b"\xff", b"\xe2\x82", b"\xf0\x9f", b"\x80"]
            ),
            max_size=20,
        ).map(b"".join)
    )
)
def test_split_and_truncated_sequences(case):
    whole, chunks = case
    assert "".join(iter_text(chunks)) == whole.decode("utf-8", "replace")


def test_a_character_split_across_chunks_is_held_back():
    euro = "€".encode()
    assert list(iter_text([b"a" + euro[:1], euro[1:2], euro[2:] + b"b"])) == ["a", "€b"]


def test_truncated_last_character_becomes_one_replacement():
    assert "".join(iter_text([b"ok\xf0\x9f"])) == "ok\ufffd"


def test_the_source_is_closed_when_the_text_iterator_is_closed():
    closed = []

    def source():
        try:
            yield b"one "
            yield b"two "
            yield b"three"
        finally:
            closed.append(True)

    text = iter_text(source())
    assert next(text) == "one "
    text.close()
    assert closed == [True]


def test_the_source_is_closed_at_the_end():
    class Source:
        def __init__(self):
            self.closed = False
            self.items = iter([b"x", b"y"])

        def __iter__(self):
            return self

        def __next__(self):
            return next(self.items)

        def close(self):
            self.closed = True

    source = Source()
    assert list(iter_text(source)) == ["x", "y"]
    assert source.closed


def test_decoder_object_reports_pending_bytes():
    decoder = Utf8StreamDecoder()
    assert decoder.decode("€".encode()[:2]) == ""
    assert decoder.pending == 2
    assert decoder.decode(b"\xac!") == "€!"
    assert decoder.pending == 0
    assert decoder.decode(b"\xf0") == "" and decoder.flush() == "\ufffd"


def test_json_loads_replaces_lone_surrogate_escapes_in_text_and_bytes():
    for raw in ('{"a\\ud800": ["x\\uDC00y", "\\u00e9"]}', b'{"a\\ud800": ["x\\uDC00y", "\\u00e9"]}'):
        assert json_loads(raw) == {"a\ufffd": ["x\ufffdy", "\u00e9"]}
    assert json_loads('{"t": "caf\\u00e9 \\ud83d\\ude00"}') == {"t": "caf\u00e9 \U0001f600"}  # a pair is kept
    assert json_loads('{"t": "plain"} \n') == {"t": "plain"}
