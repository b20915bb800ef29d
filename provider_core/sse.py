"""An incremental parser for ``text/event-stream`` (server-sent events), as servers send it.

The one SSE parser of provider-core: the OpenAI-compatible, Anthropic and Gemini plugins
all read their streams with it.

Feed it text in chunks cut anywhere (in the middle of a line, between ``\\r`` and ``\\n``);
it returns each event once its terminating blank line has arrived. It follows the
event-stream rules of the HTML standard:

* lines end with ``\\r\\n``, ``\\n`` or a lone ``\\r`` (mixed in one stream too);
* a line starting with ``:`` is a comment (servers send them as keep-alives);
* ``field: value`` (one space after the colon is dropped; a line without a colon is a
  field with an empty value); the fields are ``data``, ``event``, ``id`` and ``retry``,
  others are ignored;
* several ``data`` lines make one event whose data is joined with ``\\n`` (a multi-line
  event); a blank line dispatches the event; an event with no ``data`` line is not
  dispatched; ``event`` defaults to ``"message"``;
* a byte-order mark at the very start is skipped;
* at the end of the stream an event without its blank line is incomplete and dropped
  (:meth:`SSEParser.close` says whether that happened).

Decoding bytes to text is not done here: use :func:`provider_core.streaming.iter_text`
(or :class:`~provider_core.streaming.Utf8StreamDecoder`), which never splits a character.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from .streaming import json_loads

__all__ = ["SSEEvent", "SSEParser", "iter_events"]

_LINE_END = re.compile(r"\r\n|\r|\n")


class SSEEvent(NamedTuple):
    """One dispatched event: its type (``event``), its ``data`` (lines joined with
    ``\\n``), and the last ``id`` / ``retry`` (milliseconds) seen so far in the stream."""

    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        """``data`` decoded as JSON (:func:`provider_core.streaming.json_loads`: a lone
        surrogate escape becomes U+FFFD); ``ValueError`` when it is not JSON."""
        return json_loads(self.data)


#: ``SSEEvent(...)`` without its Python ``__new__`` (half the cost of making one event).
_new_event = tuple.__new__


class SSEParser:
    """Feed text with :meth:`feed`; call :meth:`close` at the end of the stream."""

    __slots__ = ("_data", "_event", "_id", "_partial", "_retry", "_seen_field", "_skip_lf", "_started")

    def __init__(self) -> None:
        self._partial: list[str] = []  # the current line, not yet terminated
        self._skip_lf = False  # the last chunk ended in "\r": a leading "\n" belongs to it
        self._started = False
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None
        self._seen_field = False

    @property
    def pending(self) -> bool:
        """Whether an event (or a line) has started and not been terminated yet."""
        return bool(self._partial) or self._seen_field

    def feed(self, text: str) -> list[SSEEvent]:
        """Parse ``text`` (any piece of the stream) and return the events it completes."""
        if not text:
            return []
        if not self._started:
            self._started = True
            if text[0] == "\ufeff":
                text = text[1:]
        if self._skip_lf:
            self._skip_lf = False
            if text.startswith("\n"):
                text = text[1:]
        if not (self._partial or self._seen_field):
            # The usual chunk is exactly one whole event, as servers flush them: one "data:"
            # line (OpenAI-compatible, Gemini), or an "event:" line and a "data:" line
            # (Anthropic). Read here with a few bounded searches and one slice: no split
            # into lines, no replacing Gemini's "\r\n", no list per line: 2.0 -> 1.0 us per
            # Gemini frame (bench: the Gemini 64-character row 0.83x -> 0.97x of requests).
            # Anything else (a comment, an id, several lines or events) takes the general way.
            if text.endswith("\r\n\r\n"):
                end = len(text) - 4
            elif text.endswith("\n\n"):
                end = len(text) - 2
            else:
                end = -1
            if end > 0 and text.find("\r", 0, end) < 0:  # (a lone "\r" ends a line too)
                start, event = 0, "message"
                if text.startswith("event:"):
                    start = text.find("\n", 0, end) + 1
                    if start:
                        event = text[7 if text[6:7] == " " else 6 : start - 1] or "message"
                if text.startswith("data:", start) and text.find("\n", start, end) < 0:
                    start += 6 if text[start + 5] == " " else 5  # (end > start + 5: no IndexError)
                    return [_new_event(SSEEvent, (text[start:end], event, self._id, self._retry))]
        events: list[SSEEvent] = []
        if "\r" in text and not text.endswith("\r"):  # "\r\n" line ends (Google's): as "\n" when no lone "\r"
            plain = text.replace("\r\n", "\n")
            if "\r" not in plain:
                text = plain
        if "\r" not in text:  # the usual stream: "\n" line ends; a plain split is the fast way
            lines = text.split("\n")
            rest = lines.pop()
            if lines and self._partial:
                self._partial.append(lines[0])
                lines[0] = "".join(self._partial)
                self._partial.clear()
            data = self._data
            # The usual lines are parsed inline (what _line and _dispatch do, the same way):
            # a method call per line is about a tenth of a named-event stream's cost.
            for line in lines:
                if not line:
                    if data:
                        events.append(SSEEvent("\n".join(data), self._event or "message", self._id, self._retry))
                        data.clear()
                    self._event = ""
                    self._seen_field = False
                elif line[:5] == "data:":
                    self._seen_field = True
                    data.append(line[6:] if line[5:6] == " " else line[5:])
                elif line[:6] == "event:":
                    self._seen_field = True
                    self._event = line[7:] if line[6:7] == " " else line[6:]
                else:
                    self._line(line)  # id:, retry:, a comment, another field: never an event
            if rest:
                self._partial.append(rest)
            return events
        start = 0
        for match in _LINE_END.finditer(text):
            line = text[start : match.start()]
            if self._partial:
                self._partial.append(line)
                line = "".join(self._partial)
                self._partial.clear()
            start = match.end()
            event = self._line(line)
            if event is not None:
                events.append(event)
        rest = text[start:]
        if rest:
            self._partial.append(rest)
        elif text.endswith("\r"):
            self._skip_lf = True  # "\r\n" may have been split between two chunks
        return events

    def close(self) -> bool:
        """End of stream: drop an unterminated event, as the standard says, and return
        whether there was one (a stream cut in the middle of an event)."""
        truncated = self.pending
        self._partial.clear()
        self._data.clear()
        self._event = ""
        self._seen_field = False
        self._skip_lf = False
        return truncated

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith("data:"):  # most lines: the fast way to the same result
            self._seen_field = True
            self._data.append(line[6:] if line.startswith("data: ") else line[5:])
            return None
        if line.startswith("event:"):  # named events (Anthropic's): one per event
            self._seen_field = True
            self._event = line[7:] if line.startswith("event: ") else line[6:]
            return None
        if line[0] == ":":
            return None  # a comment
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        self._seen_field = True
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id" and "\0" not in value:
            self._id = value
        elif field == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        self._seen_field = False
        if not self._data:
            self._event = ""
            return None
        event = SSEEvent("\n".join(self._data), self._event or "message", self._id, self._retry)
        self._data.clear()
        self._event = ""
        return event


def iter_events(chunks: Iterable[str]) -> Iterator[SSEEvent]:
    """The events of a stream given as text chunks (closing ``chunks`` when done)."""
    parser = SSEParser()
    try:
        for text in chunks:
            yield from parser.feed(text)
        parser.close()
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
