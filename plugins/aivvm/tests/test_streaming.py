"""Exact streaming over real sockets: the joined chunks equal the text the server sent,
however its bytes are split; bytes that are not UTF-8 become U+FFFD and nothing else is lost."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from provider_aivvm import Aivvm

USER = [{"role": "user", "content": "Hello"}]


def cut(data: bytes, sizes: list[int]) -> list[bytes]:
    """``data`` cut into pieces of the given sizes, cycling through them."""
    pieces, i, k = [], 0, 0
    while i < len(data):
        size = sizes[k % len(sizes)] if sizes else len(data)
        pieces.append(data[i : i + size])
        i += size
        k += 1
    return pieces


def stream(server, chunks, stream=True, **options) -> list[str]:
    server.clear()
    server.script(chunks=chunks, **options)
    out = list(Aivvm.create_completion("gpt-4", USER, stream, base_url=server.url, timeout=(5, 10)))
    assert all(isinstance(c, str) and c for c in out)
    return out


@settings(max_examples=60, deadline=None)
@given(text=st.text(), sizes=st.lists(st.integers(1, 9), max_size=6), whole=st.booleans())
def test_any_text_any_chunking(shared_server, text: str, sizes: list[int], whole: bool) -> None:
    chunks = cut(text.encode("utf-8"), sizes)
    assert "".join(stream(shared_server, chunks, stream=not whole)) == text


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=64), sizes=st.lists(st.integers(1, 5), max_size=6))
def test_any_bytes_decode_like_replace(shared_server, data: bytes, sizes: list[int]) -> None:
    """Whatever the bytes, the output is what ``bytes.decode("utf-8", "replace")`` gives for
    the whole body: valid text kept exactly, each invalid sequence one U+FFFD."""
    assert "".join(stream(shared_server, cut(data, sizes))) == data.decode("utf-8", "replace")


@pytest.mark.parametrize(
    ("chunks", "text"),
    [
        pytest.param([b"a\xf0", b"\x9f\x98\x80b"], "a😀b", id="4-byte-emoji-split-1+3"),
        pytest.param([b"a\xf0\x9f\x98", b"\x80b"], "a😀b", id="4-byte-emoji-split-3+1"),
        pytest.param([b"\xf0\x9f", b"\x98", b"\x80"], "😀", id="4-byte-emoji-split-2+1+1"),
        pytest.param([b"\xd0", b"\x96"], "Ж", id="cyrillic-split-1+1"),
        pytest.param([b"\xe4", b"\xb8", b"\x96"], "世", id="cjk-split-1+1+1"),
        pytest.param([bytes([b]) for b in "Привет, 世界! 👋🏽".encode()], "Привет, 世界! 👋🏽", id="1-byte-chunks"),
    ],
)
def test_split_characters(aivvm_server, chunks: list[bytes], text: str) -> None:
    out = stream(aivvm_server, chunks)
    assert "".join(out) == text
    assert "\ufffd" not in "".join(out)


@pytest.mark.parametrize("framing", ["chunked", "length", "close"])
def test_every_http_framing(aivvm_server, framing: str) -> None:
    text = "Жёлтый 黄色 🟨 " * 50
    assert "".join(stream(aivvm_server, cut(text.encode(), [1, 2, 3, 5]), framing=framing)) == text


def test_chunks_arrive_as_they_are_sent(aivvm_server) -> None:
    """The first chunk is yielded while the server is still answering (no buffering)."""
    aivvm_server.script(chunks=["first ", "second"], delay_between=30)  # cut short when the server stops
    it = Aivvm.create_completion("gpt-4", USER, True, base_url=aivvm_server.url)
    assert next(it) == "first "
    (request,) = aivvm_server.requests
    assert not request.done.is_set()
    assert request.body_bytes_sent == len("first ")
    it.close()


def mixed_text(min_bytes: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    alphabet = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяЖЁ世界中文字漢語日本語한국어😀👋🏽🎉🚀∑≈ aZ,.\n"
    parts, size = [], 0
    while size < min_bytes:
        piece = "".join(rng.choices(alphabet, k=256))
        parts.append(piece)
        size += len(piece.encode())
    return "".join(parts)


def test_one_megabyte_in_one_byte_chunks(aivvm_server) -> None:
    """1 MiB of mixed Cyrillic/CJK/emoji text, each byte its own HTTP chunk on the wire
    (the server batches the chunk frames into large writes; the client still reads and
    decodes them one byte at a time, as urllib3 yields each HTTP chunk on its own)."""
    text = mixed_text(1 << 20)
    data = text.encode()
    assert len(data) >= 1 << 20
    reply = aivvm_server.script(text, chunk_size=1)
    assert len(reply.chunks()) == len(data)
    count = 0
    parts = []
    for chunk in Aivvm.create_completion("gpt-4", USER, True, base_url=aivvm_server.url, timeout=(5, 30)):
        parts.append(chunk)
        count += 1
    assert "".join(parts) == text
    assert count == len(text)  # one character per chunk: every byte arrived alone


@pytest.mark.parametrize(
    ("chunks", "text"),
    [
        pytest.param([b"ok \xff\xfe then ", b"end"], "ok \ufffd\ufffd then end", id="invalid-bytes"),
        pytest.param([b"caf", b"\xc3", b"(ok)"], "caf\ufffd(ok)", id="bad-continuation-across-chunks"),
        pytest.param([b"abc\xe2\x82"], "abc\ufffd", id="truncated-at-the-end"),
        pytest.param([b"\x80x", b"\xbf"], "\ufffdx\ufffd", id="lone-continuation-bytes"),
        pytest.param([b"\xed\xa0\x80!"], "\ufffd\ufffd\ufffd!", id="encoded-surrogate"),
        pytest.param(["Ж".encode() + b"\xc0\xaf", "ж".encode()], "Ж\ufffd\ufffdж", id="overlong"),
    ],
)
def test_invalid_utf8_becomes_replacement_characters(aivvm_server, chunks: list[bytes], text: str) -> None:
    assert "".join(stream(aivvm_server, chunks)) == text
    assert "".join(stream(aivvm_server, chunks, stream=False)) == text
