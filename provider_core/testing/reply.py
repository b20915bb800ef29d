"""The reply script of the loopback server: what one request gets back, and how.

A :class:`Reply` chooses the status, headers, body chunks, the framing (chunked transfer
encoding, ``Content-Length``, or a body delimited by closing the connection), delays (before
the first byte, between chunks) and faults (a TCP reset, or a plain close, after some bytes
of the body). :mod:`provider_core.testing.handler` writes it on the wire. Only the standard
library is imported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Framing", "Reply", "split_bytes"]

Framing = Literal["chunked", "length", "close"]


@dataclass
class Reply:
    """What the server sends back for one request.

    ``status``
        The HTTP status code; ``reason`` overrides the standard phrase.
    ``body``
        The body as one ``bytes``/``str``, or a sequence of them: each element is one
        *chunk*. With ``framing="chunked"`` each non-empty chunk is one HTTP chunk on the wire,
        so a client that reads chunk by chunk (urllib3 does) sees exactly these boundaries,
        down to 1-byte chunks. ``str`` is encoded as UTF-8.
    ``headers``
        Extra response headers; ``content-type`` defaults to ``text/plain; charset=utf-8``.
        The framing headers (``Transfer-Encoding``, ``Content-Length``, ``Connection``) are
        set by the server from ``framing``.
    ``framing``
        ``"chunked"`` (default): ``Transfer-Encoding: chunked``, connection kept alive.
        ``"length"``: ``Content-Length`` of the whole body, connection kept alive.
        ``"close"``: neither; the body ends when the server closes the connection.
    ``delay_before``
        Seconds to wait before sending anything (the status line included): exercises
        a client's read timeout before the first byte.
    ``delay_between``
        Seconds to wait before each chunk after the first, and before a fault. When it is
        0, consecutive chunks are gathered into large socket writes (the HTTP chunk
        boundaries stay the same); when it is positive, each chunk is its own write.
    ``reset_after``
        After this many *body* bytes (payload, not framing), abort the connection with a
        TCP reset (``SO_LINGER`` 0): the client sees ``ECONNRESET``.
    ``close_after``
        After this many body bytes, close the connection normally (FIN): with chunked or
        length framing the client sees a truncated body.
    ``hold``
        A :class:`threading.Event`: every body chunk but the last goes on the wire, and the
        last waits until the event is set (at most ``hold_timeout`` seconds, or until the
        server stops). A test sets it once it has seen what it waited for (the first text at
        the client, say), so no clock decides the order of events: whatever the protocol,
        a client that reads as the body arrives has all the text but the end.
    ``gone_after_hold``
        With ``hold``: once the hold is over, wait (at most ``hold_timeout`` seconds) for the
        client to close the connection before sending the rest; when it does, the reply ends
        there with the outcome ``"client-gone"`` (a test of closing early needs no race
        between the client's close and the server's next write).
    """

    status: int = 200
    body: bytes | str | Sequence[bytes | str] = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    framing: Framing = "chunked"
    delay_before: float = 0.0
    delay_between: float = 0.0
    reset_after: int | None = None
    close_after: int | None = None
    reason: str | None = None
    hold: Any = None  # threading.Event; Any keeps this module free of threading
    hold_timeout: float = 30.0
    gone_after_hold: bool = False

    def __post_init__(self) -> None:
        if self.framing not in ("chunked", "length", "close"):
            raise ValueError(f"framing must be 'chunked', 'length' or 'close', got {self.framing!r}")
        if self.reset_after is not None and self.close_after is not None:
            raise ValueError("give reset_after or close_after, not both")
        for name in ("delay_before", "delay_between"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        for name in ("reset_after", "close_after"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative")

    def chunks(self) -> list[bytes]:
        """The body as a list of byte chunks (empty chunks dropped)."""
        parts: Iterable[bytes | str] = [self.body] if isinstance(self.body, (bytes, str)) else self.body
        out = [p.encode("utf-8") if isinstance(p, str) else bytes(p) for p in parts]
        return [p for p in out if p]

    @classmethod
    def text(cls, text: str, *, chunk_size: int | None = None, **options: Any) -> Reply:
        """A reply carrying ``text`` as UTF-8, cut every ``chunk_size`` *bytes* (so a
        multi-byte character may well be split across chunks); one chunk when ``None``."""
        data = text.encode("utf-8")
        return cls(body=split_bytes(data, chunk_size), **options)


def split_bytes(data: bytes, size: int | None) -> list[bytes]:
    """``data`` cut into pieces of ``size`` bytes (the last one shorter); whole when ``None``."""
    if size is None:
        return [data] if data else []
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    return [data[i : i + size] for i in range(0, len(data), size)]
