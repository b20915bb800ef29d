"""A fast loopback server speaking the streamed Anthropic Messages API, run as its own process.

``python -m bench.anthropic_server`` listens on 127.0.0.1 (a free port), prints the port,
and serves until its standard input closes (or :data:`bench.server.MAX_LIFETIME` passes), like
:mod:`bench.server`. Any ``POST .../v1/messages`` gets a ``text/event-stream`` reply in
Anthropic's shape (``message_start``, ``ping``, a text block of ``text_delta`` events,
``message_delta`` with the stop reason and usage, ``message_stop``), chosen by the path
before ``/v1/messages`` (the provider's base URL carries it):

* ``/stream/K/D``: :func:`stream_text` ``(K)`` (``K`` KiB of mixed Cyrillic/CJK/emoji
  text, from :func:`bench.server.text_block`) in deltas of ``D`` characters, one HTTP
  chunk per event, as Anthropic flushes them; ``/stream/K/D/cN``: the same bytes in HTTP
  chunks of ``N`` bytes that cut events and characters anywhere (a buffering proxy);
* ``/small``: :data:`bench.server.SMALL` in one delta.

Every reply is rendered once, framed, and cached: the server writes one buffer per
request, so the time measured is the client's.
"""

from __future__ import annotations

import json
import re
import threading

from .server import BLOCK, SMALL, BenchHandler, serve

__all__ = ["events", "stream_text"]

_PATH = re.compile(r"/(?:stream/(\d+)/(\d+)(?:/c(\d+))?|(small))/v1/messages$")
_CACHE: dict[tuple[int, int, int], bytes] = {}
_LOCK = threading.Lock()


def stream_text(kib: int) -> str:
    """About ``kib`` KiB (UTF-8) of the benchmark's mixed text: whole blocks, then a cut one."""
    size = kib * 1024
    whole, rest = divmod(size, len(BLOCK.encode()))
    tail = BLOCK.encode()[:rest].decode("utf-8", "ignore")
    return BLOCK * whole + tail


def _event(name: str, payload: object) -> bytes:
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return f"event: {name}\ndata: {data}\n\n".encode()


def events(text: str, delta: int) -> list[bytes]:
    """The events of one streamed message whose text arrives in deltas of ``delta`` characters."""
    message = {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-5-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    out = [_event("message_start", {"type": "message_start", "message": message}), _event("ping", {"type": "ping"})]
    block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    out.append(_event("content_block_start", block))
    for at in range(0, len(text), delta):
        piece = {"type": "text_delta", "text": text[at : at + delta]}
        out.append(_event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": piece}))
    out.append(_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    end = {"stop_reason": "end_turn", "stop_sequence": None}
    usage = {"output_tokens": max(1, len(text) // 4)}
    out.append(_event("message_delta", {"type": "message_delta", "delta": end, "usage": usage}))
    out.append(_event("message_stop", {"type": "message_stop"}))
    return out


def _chunked(pieces: list[bytes]) -> bytes:
    """``Transfer-Encoding: chunked`` framing, one HTTP chunk per piece (the last chunk is
    :meth:`~bench.server.BenchHandler.send_chunked`'s)."""
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p)


def _reply(kib: int, delta: int, chunk: int) -> bytes:
    key = (kib, delta, chunk)
    with _LOCK:
        body = _CACHE.get(key)
        if body is None:
            rendered = events(stream_text(kib) if kib else SMALL, delta or len(SMALL))
            if chunk:
                whole = b"".join(rendered)
                rendered = [whole[i : i + chunk] for i in range(0, len(whole), chunk)]
            body = _CACHE[key] = _chunked(rendered)
    return body


class _Handler(BenchHandler):
    def do_POST(self) -> None:
        self.read_body()
        match = _PATH.search(self.path.split("?", 1)[0])
        if match is None:
            self.send_error(404)
            return
        kib, delta, chunk, small = match.groups()
        body = _reply(0, 0, 0) if small else _reply(int(kib), int(delta), int(chunk or 0))
        self.send_chunked("text/event-stream; charset=utf-8", body)


def main() -> None:
    serve(_Handler)


if __name__ == "__main__":
    main()
