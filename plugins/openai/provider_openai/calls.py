"""The request path of :class:`~provider_openai.provider.OpenAIEndpoint`: building the
request, sending it, and reading the reply (JSON, or server-sent events as they arrive).
See :mod:`provider_openai.provider` for what it yields and the errors it raises.

Its own module, imported at the first call: a start that only lists providers (every CLI
command's) does not import the SSE parser, the stream events or the protocol
(bench/RESULTS.md, "start-up with a config file").
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from provider_core.errors import InvalidMessages, ProviderConnectionError, ProviderError, StreamInterrupted
from provider_core.events import ToolCallDelta
from provider_core.provider import CreateResult, Messages
from provider_core.secrets import quoted_url
from provider_core.sse import SSEEvent, SSEParser

from .protocol import (
    UpstreamError,
    build_body,
    error_details,
    finish_reason,
    parse_error_body,
    read_chunk,
    reply_items,
    tool_call_parts,
    usage_of,
)

if TYPE_CHECKING:
    from .config import EndpointConfig
    from .provider import OpenAIEndpoint

__all__ = ["USER_AGENT", "complete"]

USER_AGENT = "provider-core-openai/0.1"
#: The chat URLs whose server refused ``stream_options`` (asked without it from then on).
_NO_USAGE_OPTION: set[str] = set()


def _base_url(endpoint: EndpointConfig, override: Any) -> str:
    if override is None or override == endpoint.base_url:
        return endpoint.base_url
    if not isinstance(override, str) or not override.startswith(("http://", "https://")):
        raise InvalidMessages([("base_url", f"must be an http:// or https:// URL, got {quoted_url(override)}")])
    return override.rstrip("/")


def _headers(endpoint: EndpointConfig, stream: bool, extra: Any, send_key: bool) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "accept": "text/event-stream" if stream else "application/json",
        "user-agent": USER_AGENT,
    }
    headers.update(endpoint.headers)
    if isinstance(extra, Mapping):
        headers.update({str(k): str(v) for k, v in extra.items()})
    if endpoint.api_key is not None and send_key:
        headers["authorization"] = f"Bearer {endpoint.api_key.get_secret_value()}"
    return headers


def complete(
    cls: type[OpenAIEndpoint], model: str, messages: Messages, stream: bool, options: dict[str, Any]
) -> CreateResult:
    endpoint = cls.endpoint
    base = _base_url(endpoint, options.get("base_url"))
    url = f"{base}/chat/completions"
    ask_usage = stream and endpoint.stream_usage and url not in _NO_USAGE_OPTION
    body = build_body(
        model, messages, stream, options, max_tokens_param=endpoint.max_tokens_param, include_usage=ask_usage
    )
    request = {
        "json": body,
        # the key goes only to the configured base URL, never to one given per call
        "headers": _headers(endpoint, stream, options.get("extra_headers"), send_key=base == endpoint.base_url),
        "timeout": options.get("timeout") or endpoint.timeout,
        "proxy": options.get("proxy") or endpoint.proxy,
        "parse_error": parse_error_body,
    }
    if not stream:
        yield from _once(cls, url, request)
        return
    from provider_core.errors import ProviderHTTPError  # the requests-based errors: imported with requests

    try:
        yield from _stream(cls, url, request)
    except ProviderHTTPError as exc:
        if not (ask_usage and exc.status_code in (400, 422) and "stream_options" in f"{exc.body_excerpt} {exc}"):
            raise
        # a server that does not know stream_options: once more without it
        retry = {**request, "json": {k: v for k, v in body.items() if k != "stream_options"}}
        events = _stream(cls, url, retry)
        try:
            first = next(events, None)  # the retry's own HTTP error, if any, is the one raised
            _NO_USAGE_OPTION.add(url)
            if first is not None:
                yield first
                yield from events
        finally:
            events.close()


def _once(cls: type[OpenAIEndpoint], url: str, request: dict[str, Any]) -> CreateResult:
    from provider_core.transport import request_json

    payload = request_json(cls.name, "POST", url, **request)
    if isinstance(payload, Mapping) and payload.get("error"):
        _fail(cls, payload, 0, 0)
    try:
        items = reply_items(payload)
    except ValueError as exc:
        raise ProviderError(f"{cls.name}: unexpected reply from {url}: {exc}", provider=cls.name) from None
    yield from items


def _fail(cls: type[OpenAIEndpoint], payload: Any, chars: int, chunks: int) -> None:
    """Raise the error an endpoint reported inside a 200 reply (``payload`` is its JSON,
    or the raw text of an ``event: error``); ``chunks`` counts what was delivered before
    it (text and tool-call pieces)."""
    details = error_details(payload) if not isinstance(payload, str) else None
    if details is None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        details = (" ".join(text.split())[:500] or "(no message)", None, None)
    message, error_type, code = details
    shown = f"[{error_type}] {message}" if error_type else message
    if chunks == 0:
        raise UpstreamError(f"{cls.name}: {shown}", provider=cls.name, error_type=error_type, error_code=code)
    raise StreamInterrupted(
        f"{cls.name}: upstream error after {chars:,} characters: {shown}",
        provider=cls.name,
        received_chars=chars,
        received_chunks=chunks,
    )


def _event_payload(cls: type[OpenAIEndpoint], event: SSEEvent, chars: int, chunks: int) -> Any:
    if event.event == "error":
        try:
            payload: Any = event.json()
        except ValueError:
            payload = event.data
        _fail(cls, payload, chars, chunks)
    try:
        payload = event.json()
    except ValueError:
        _fail(cls, f"the stream carried an event that is not JSON: {event.data[:200]!r}", chars, chunks)
    if isinstance(payload, dict) and payload.get("error"):  # dict: decoded JSON, and cheaper than Mapping
        _fail(cls, payload, chars, chunks)
    return payload


class _Calls:
    """The tool calls of one stream, by index: each call's first delta carries its id
    (made up when the server sent none) and name, later ones only their arguments (some
    servers repeat the id and name in every delta, or send an empty id later)."""

    def __init__(self) -> None:
        self.started: set[int] = set()

    def pieces(self, raw: Any) -> Iterator[ToolCallDelta]:
        for index, call_id, name, arguments in tool_call_parts(raw):
            if index in self.started:
                if arguments:
                    yield ToolCallDelta(index, arguments=arguments)
                continue
            self.started.add(index)
            # a made-up id for a server that sends none (os.urandom: uuid would cost start-up its import)
            made = call_id or f"call_{os.urandom(12).hex()}"
            yield ToolCallDelta(index, id=made, name=name, arguments=arguments)


def _stream(cls: type[OpenAIEndpoint], url: str, request: dict[str, Any]) -> CreateResult:
    from provider_core.streaming import drain, iter_text
    from provider_core.transport import stream_post

    texts = iter_text(stream_post(cls.name, url, **request))
    parser = SSEParser()
    calls = _Calls()
    chars = chunks = 0
    done = False
    finish = usage = None
    try:
        try:
            for text in texts:
                for event in parser.feed(text):
                    if event.data == "[DONE]":
                        done = True
                        break
                    payload = _event_payload(cls, event, chars, chunks)
                    try:
                        piece, reason, raw_calls, raw_usage = read_chunk(payload)
                    except ValueError as exc:
                        _fail(cls, str(exc), chars, chunks)
                    if piece:
                        chars += len(piece)
                        chunks += 1
                        yield piece
                    if raw_calls is not None:
                        for delta in calls.pieces(raw_calls):
                            chunks += 1
                            yield delta
                    if reason is not None:
                        finish = reason
                    if raw_usage is not None:
                        usage = usage_of(raw_usage) or usage
                if done:
                    break
        except StreamInterrupted as exc:
            if chunks:
                raise
            # bytes arrived but nothing was delivered yet: another candidate may answer
            raise ProviderConnectionError(str(exc), provider=cls.name) from None
        if done:
            drain(texts)
        truncated = parser.close()
        if not done and finish is None:
            what = "in the middle of an event" if truncated else "without [DONE] or a finish_reason"
            if chunks == 0:
                raise ProviderError(f"{cls.name}: the stream ended {what}, before any text", provider=cls.name)
            raise StreamInterrupted(
                f"{cls.name}: the stream ended {what} after {chars:,} characters; the reply may be incomplete",
                provider=cls.name,
                received_chars=chars,
                received_chunks=chunks,
            )
    finally:
        texts.close()
    if usage is not None:
        yield usage
    ended = finish_reason(finish)
    if ended is not None:
        yield ended
