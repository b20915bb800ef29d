"""One request to the Gemini API in flight: sending it, reading the reply (one JSON
object, or a stream of SSE frames), and turning every fault into the right typed error.

Used by :meth:`provider_gemini.provider.Gemini.create_completion`, which builds the body
and headers; see its module for the error rules. Imported on the first request only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NoReturn

from provider_core.errors import ProviderConnectionError, StreamInterrupted, UpstreamError
from provider_core.secrets import redact
from provider_core.sse import SSEEvent, SSEParser
from provider_core.streaming import json_loads

from .replies import ReplyState
from .signatures import MEMORY
from .wire_errors import ErrorDetails, ErrorRecorder, error_details

__all__ = ["Exchange"]


class Exchange:
    """One request in flight: where it goes, and the key to keep out of error texts."""

    def __init__(self, provider: str, url: str, key: str, key_hint: str) -> None:
        self.provider = provider
        self.url = url
        self.secrets = (key,) if key else ()
        self.key_hint = key_hint
        self.recorder = ErrorRecorder()

    def run(self, request: dict[str, Any], stream: bool) -> Iterator[Any]:
        """The reply's items, as a generator: nothing is sent before its first ``next()``.
        (The generator is the stream reader itself: no delegating layer per item.)"""
        request["parse_error"] = self.recorder
        return self._stream(request) if stream else self._once(request)

    def _http_error(self, exc: Any) -> Any:
        """The transport's ``ProviderHTTPError``, completed: a refused key becomes an
        authentication error naming its variable (and may fall back); a 429 without
        ``Retry-After`` takes ``RetryInfo``'s delay."""
        from provider_core.errors import ProviderHTTPError

        details = self.recorder.details
        if details is not None and details.key_refused:
            error = ProviderHTTPError(
                exc.status_code,
                provider=self.provider,
                url=exc.url,
                body_excerpt=f"the API key was refused ({details.reason}): check {self.key_hint}",
                error_type=exc.error_type,
                error_code=exc.error_code,
            )
            error.fallback_ok = True
            return error
        if exc.retry_after is None and details is not None and details.retry_after is not None:
            exc.retry_after = details.retry_after
        return exc

    def _once(self, request: dict[str, Any]) -> Iterator[Any]:
        from provider_core.errors import ProviderHTTPError
        from provider_core.events import ToolCall
        from provider_core.transport import request_json

        try:
            payload = request_json(self.provider, "POST", self.url, **request)
        except ProviderHTTPError as exc:
            raise self._http_error(exc) from None
        state = ReplyState()
        items = self._frame(payload, state, 0)
        if state.empty:
            raise state.empty_error(self.provider)
        text = "".join(item for item in items if isinstance(item, str))
        if text:
            yield text
        yield from (item for item in items if isinstance(item, ToolCall))
        yield from state.closing_events()

    def _stream(self, request: dict[str, Any]) -> Iterator[Any]:
        from provider_core.errors import ProviderHTTPError
        from provider_core.streaming import iter_text
        from provider_core.transport import stream_post

        texts = iter_text(stream_post(self.provider, self.url, **request))
        parser = SSEParser()
        state = ReplyState()
        feed, text_of, loads = state.feed, state.text_of, json_loads  # json.loads, lone surrogates made U+FFFD
        yielded = 0
        try:
            try:
                for text in texts:
                    # one frame per chunk, as Google flushes them: the parser's whole-event path, "\r\n" and all
                    for event in parser.feed(text):
                        # the hot path, inlined: decode, look for an error object, read the frame
                        try:
                            payload = loads(event.data)
                        except ValueError:
                            self._not_json(event, state, yielded)
                        if payload.__class__ is dict and "error" not in payload:
                            piece = text_of(payload)
                            if piece is not None:  # the usual frame: one piece of text
                                yielded += 1
                                yield piece
                                continue
                            try:
                                items = feed(payload)
                            except ValueError as exc:
                                self._fail(ErrorDetails(f"unexpected reply: {exc}"), state, yielded)
                            if state.signatures:
                                _remember(state)
                        else:
                            items = self._frame(payload, state, yielded)
                        for item in items:
                            yielded += 1
                            yield item
            except ProviderHTTPError as exc:  # raised by the first read: nothing was yielded
                raise self._http_error(exc) from None
            except StreamInterrupted as exc:
                if not exc.received_bytes:
                    raise  # raised here (an error frame after some output): already complete
                if yielded:  # the transport lost the connection mid-reply
                    raise self._interrupted(str(exc), state, yielded) from None
                # bytes arrived but nothing was delivered: another candidate may answer
                raise ProviderConnectionError(str(exc), provider=self.provider) from None
            truncated = parser.close()
            if not state.finished:
                what = "in the middle of a frame" if truncated else "without a finishReason"
                if yielded:
                    raise self._interrupted(f"{self.provider}: the stream ended {what}", state, yielded)
                raise ProviderConnectionError(
                    f"{self.provider}: the stream ended {what}, before any text", provider=self.provider
                )
            if state.empty:
                raise state.empty_error(self.provider)
            yield from state.closing_events()
        finally:
            texts.close()

    def _not_json(self, event: SSEEvent, state: ReplyState, yielded: int) -> NoReturn:
        self._fail(ErrorDetails(f"the stream carried a frame that is not JSON: {event.data[:200]!r}"), state, yielded)

    def _frame(self, payload: Any, state: ReplyState, yielded: int) -> list[Any]:
        """The items of one reply object; an error object raises."""
        details = error_details(payload)
        if details is not None:
            self._fail(details, state, yielded)
        try:
            items = state.feed(payload)
        except ValueError as exc:
            self._fail(ErrorDetails(f"unexpected reply: {exc}"), state, yielded)
        _remember(state)
        return items

    def _interrupted(self, text: str, state: ReplyState, yielded: int) -> StreamInterrupted:
        return StreamInterrupted(
            f"{text} after {state.text_chars:,} characters and {state.calls} function call(s); "
            "the reply may be incomplete",
            provider=self.provider,
            received_chars=state.text_chars,
            received_chunks=yielded,
        )

    def _fail(self, details: ErrorDetails, state: ReplyState, yielded: int) -> NoReturn:
        """Raise the error Gemini reported inside a 200 reply (the key redacted from it)."""
        shown = redact(f"[{details.status}] {details.message}" if details.status else details.message, self.secrets)
        if yielded:
            raise self._interrupted(f"{self.provider}: upstream error: {shown};", state, yielded)
        code = details.reason or (str(details.code) if details.code is not None else None)
        raise UpstreamError(
            f"{self.provider}: {shown}",
            provider=self.provider,
            error_type=details.status,
            error_code=code,
            retry_after=details.retry_after,
            fallback_ok=not details.request_invalid,
        )


def _remember(state: ReplyState) -> None:
    """Keep the thought signatures that came with the frame's function calls."""
    for call_id, signature in state.signatures:
        MEMORY.remember(call_id, signature)
    state.signatures.clear()
