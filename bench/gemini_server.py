"""A fast loopback server speaking Gemini's streamed ``generateContent``, run as its own
process for :mod:`bench.gemini_bench`.

``python -m bench.gemini_server`` listens on 127.0.0.1 (a free port), prints the port and
serves until its standard input closes (or :data:`bench.server.MAX_LIFETIME` passes). Any
``POST .../models/{model}:streamGenerateContent`` is answered with server-sent events as
Google sends them (``data: <GenerateContentResponse>`` and ``\\r\\n\\r\\n``, one HTTP chunk
per frame, no end marker), chosen by the path before ``/v1beta`` (a provider's base URL
carries it):

* ``/text/N/P``: :data:`bench.server.BLOCK` N times, in frames of P characters of text
  (each with the usage snapshot and model version Google puts in every frame), then a
  frame with ``finishReason: STOP`` and the final counts;
* ``/small/P``: :data:`bench.server.SMALL` the same way.

Each stream is rendered once, when first asked for, and then only written: the time
measured is the client's.
"""

from __future__ import annotations

import json
import re

from .server import BLOCK, SMALL, BenchHandler, serve

__all__ = ["FINAL_USAGE", "MODEL", "expected_text", "render_stream"]

MODEL = "gemini-3.8-flash"
#: The counts of the last frame (what the provider reports as Usage(12, 345)).
FINAL_USAGE = {"promptTokenCount": 12, "candidatesTokenCount": 345, "totalTokenCount": 357}
_PATH = re.compile(r"^/(?:text/(\d+)|small)/(\d+)/v1beta/models/[^/:]+:streamGenerateContent$")
_STREAMS: dict[tuple[int, int], bytes] = {}


def expected_text(blocks: int) -> str:
    """The text of ``/text/{blocks}/...`` (``blocks`` 0: ``/small/...``)."""
    return BLOCK * blocks if blocks else SMALL


def _frame(payload: object) -> bytes:
    data = b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\r\n\r\n"
    return b"%x\r\n" % len(data) + data + b"\r\n"  # one HTTP chunk per frame, as Google flushes them


def render_stream(blocks: int, piece: int) -> bytes:
    """The chunked body of one streamed reply: the text in frames of ``piece`` characters,
    then the finishing frame (the last chunk is :meth:`~bench.server.BenchHandler.send_chunked`'s)."""
    text = expected_text(blocks)
    snapshot = {"promptTokenCount": 12, "totalTokenCount": 12}
    out = [
        _frame(
            {
                "candidates": [{"content": {"parts": [{"text": text[at : at + piece]}], "role": "model"}, "index": 0}],
                "usageMetadata": snapshot,
                "modelVersion": MODEL,
                "responseId": "bench-response",
            }
        )
        for at in range(0, len(text), piece)
    ]
    final = {"content": {"parts": [{"text": ""}], "role": "model"}, "finishReason": "STOP", "index": 0}
    out.append(_frame({"candidates": [final], "usageMetadata": FINAL_USAGE, "modelVersion": MODEL}))
    return b"".join(out)


class _Handler(BenchHandler):
    def do_POST(self) -> None:
        self.read_body()
        match = _PATH.match(self.path.split("?", 1)[0])
        if match is None:
            self.send_error(404)
            return
        key = (int(match.group(1) or 0), max(1, int(match.group(2))))
        body = _STREAMS.get(key)
        if body is None:
            body = _STREAMS[key] = render_stream(*key)
        self.send_chunked("text/event-stream", body)


def main() -> None:
    serve(_Handler)


if __name__ == "__main__":
    main()
