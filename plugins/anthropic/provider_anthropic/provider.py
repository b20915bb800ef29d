"""The Anthropic provider: one class, configured from the environment when the registry loads.

``create_completion`` sends ``POST {base}/v1/messages`` (body: :mod:`.request`) and yields
what the reply carries (:mod:`.replies`): with ``stream=True`` it reads the server-sent
events as they arrive (``stream_post`` + ``iter_text`` + one ``SSEParser``); with
``stream=False`` it reads the one JSON reply. Errors, by when they happen:

* before sending: :class:`~provider_core.errors.InvalidMessages` (a message or keyword
  provider-core accepts but Anthropic cannot take, see :mod:`.request`),
  :class:`~provider_core.errors.ProviderError` (no key: falls back). The model and the
  input's shapes are checked by provider-core before this provider is called (routed, or
  by :class:`~provider_core.provider.AbstractProvider`'s wrapper for a direct call:
  ``ModelNotSupported``, ``InvalidMessages``);
* an HTTP error status: the transport's ``ProviderHTTPError`` with Anthropic's message and
  error type (401/403/404/429/5xx/529 fall back, 400/413 do not; 429/529 carry
  ``retry_after``);
* an ``error`` event (or error body) in a 200 reply before anything was yielded:
  :class:`~provider_core.errors.UpstreamError`; after: ``StreamInterrupted``; a stream
  that ends without ``message_stop``: ``StreamInterrupted``, or a connection error when
  nothing was yielded.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from provider_core.errors import InvalidMessages, ProviderConnectionError, ProviderError
from provider_core.provider import AbstractProvider, Messages
from provider_core.secrets import quoted_url

from .models import DEFAULT_MODEL, display_names
from .wire import BASE_URL_VARIABLE, DEFAULT_BASE_URL, KEY_VARIABLE, NAME, auth_headers, parse_error_body

__all__ = ["Anthropic", "configured"]


class Anthropic(AbstractProvider):
    """Claude models over Anthropic's Messages API. The registered class is a subclass made
    by :func:`configured`, which holds the key and base URL read from the environment;
    this one has neither (pass ``api_key=`` and, for another server, ``base_url=``)."""

    name = NAME
    url = DEFAULT_BASE_URL
    working = False
    supports_stream = True
    supports_message_history = True
    needs_auth = True
    supports_tools = True
    supports_vision = True
    supports_json = True
    models = MappingProxyType(display_names())
    default_model = DEFAULT_MODEL
    status_reason: ClassVar[str | None] = f"{KEY_VARIABLE} is not set"
    #: The key from the environment (a pydantic ``SecretStr``), sent only to :attr:`base_url`.
    api_key: ClassVar[Any] = None
    #: Where requests go unless a call gives ``base_url=`` (no ``/v1``).
    base_url: ClassVar[str] = DEFAULT_BASE_URL

    @classmethod
    def create_completion(cls, model: str, messages: Messages, stream: bool, **kwargs: Any) -> Iterator[Any]:
        """Send one request; see the module documentation. Keywords: ``tools``,
        ``tool_choice``, ``response_format``, ``max_tokens``, ``temperature``, ``top_p``,
        ``stop``, ``seed`` (dropped), ``api_key`` (a ``SecretStr`` or ``str``), ``base_url``,
        ``timeout`` (seconds or a (connect, read) pair), ``proxy``; others are ignored."""
        # the generator that reads the reply is the one returned: no delegating layer per event
        return (_stream if stream else _once)(cls, model, messages, kwargs)


def _valid_base(url: Any, where: str) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InvalidMessages([(where, f"must be an http:// or https:// URL, got {quoted_url(url)}")])
    return url.rstrip("/")


def configured(environ: Mapping[str, str]) -> type[Anthropic]:
    """The provider class for ``environ``: ``ANTHROPIC_API_KEY`` (kept as ``SecretStr``) and
    ``ANTHROPIC_BASE_URL`` (default ``https://api.anthropic.com``). Without a key it is not
    working, and ``status_reason`` names the variable. No I/O."""
    from provider_core.secrets import safe_url

    key = environ.get(KEY_VARIABLE) or None
    reason = None if key else f"{KEY_VARIABLE} is not set"
    try:
        base = _valid_base(environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL, BASE_URL_VARIABLE)
    except InvalidMessages as exc:
        base, reason = DEFAULT_BASE_URL, exc.errors[0][0] + " " + exc.errors[0][1]
    secret = None
    if key:
        from pydantic import SecretStr

        secret = SecretStr(key)
    attrs = {
        "__module__": __name__,
        "__doc__": Anthropic.__doc__,
        "name": NAME,
        "url": safe_url(base),
        "working": reason is None,
        "status_reason": reason,
        "api_key": secret,
        "base_url": base,
    }
    return type("Anthropic", (Anthropic,), attrs)


def _target(cls: type[Anthropic], options: Mapping[str, Any]) -> tuple[str, Any]:
    """``(base URL, key)``: the environment's key goes only to the environment's base URL."""
    base = cls.base_url if options.get("base_url") is None else _valid_base(options["base_url"], "base_url")
    key = options.get("api_key")
    if key is None and base == cls.base_url:
        key = cls.api_key
    if key is None:
        raise ProviderError(f"{cls.name}: no API key: set {KEY_VARIABLE} or pass api_key=", provider=cls.name)
    return base, key


def _request(
    cls: type[Anthropic], model: str, messages: Messages, stream: bool, options: dict[str, Any]
) -> tuple[str, dict[str, Any], tuple[str, ...]]:
    """``(url, the transport's keywords, the secrets to keep out of error texts)`` of one call
    (run at the reply's first ``next()``: nothing is checked or sent before)."""
    from provider_core.secrets import secret_values

    from .request import build_body

    body = build_body(model, messages, stream, options)
    base, key = _target(cls, options)
    headers = auth_headers(key)
    headers["content-type"] = "application/json"
    headers["accept"] = "text/event-stream" if stream else "application/json"
    request = {
        "json": body,
        "headers": headers,
        "timeout": options.get("timeout"),
        "proxy": options.get("proxy"),
        "parse_error": parse_error_body,
    }
    return f"{base}/v1/messages", request, secret_values(headers=headers)


def _once(cls: type[Anthropic], model: str, messages: Messages, options: dict[str, Any]) -> Iterator[Any]:
    from provider_core.transport import request_json

    from .replies import reply_events

    url, request, secrets = _request(cls, model, messages, False, options)
    payload = request_json(cls.name, "POST", url, **request)
    try:
        items = reply_events(payload, provider=cls.name, secrets=secrets)
    except ValueError as exc:
        raise ProviderError(f"{cls.name}: unexpected reply from {url}: {exc}", provider=cls.name) from None
    yield from items


def _stream(cls: type[Anthropic], model: str, messages: Messages, options: dict[str, Any]) -> Iterator[Any]:
    from provider_core.errors import StreamInterrupted
    from provider_core.sse import SSEParser
    from provider_core.streaming import drain, iter_text
    from provider_core.transport import stream_post

    from .replies import StreamReader

    url, request, secrets = _request(cls, model, messages, True, options)
    texts = iter_text(stream_post(cls.name, url, **request))
    parser = SSEParser()
    reader = StreamReader(provider=cls.name, secrets=secrets)
    feed, read = parser.feed, reader.event  # bound once: the loop runs per event
    try:
        try:
            # a for loop, not next() in a while loop: a call less per chunk (bench: the
            # 16-character row)
            for text in texts:
                for event in feed(text):
                    got = read(event.event, event.data)
                    if type(got) is str:  # a text delta: most events
                        yield got
                        continue
                    if got:
                        yield from got
                    if reader.done:
                        break
                else:
                    continue
                break  # message_stop: the rest is drained below
        except StreamInterrupted as exc:
            if not exc.received_bytes:
                raise  # the reader's own (an error event after some text): already complete
            raise _broken(cls, reader, exc) from None  # the connection broke: say what had arrived
        if not reader.done:
            raise reader.cut_short(parser.close(), url)
        drain(texts)
        yield from reader.finish()
    finally:
        texts.close()


def _broken(cls: type[Anthropic], reader: Any, exc: BaseException) -> ProviderError:
    from provider_core.errors import StreamInterrupted

    if reader.chunks == 0:  # nothing was delivered: another candidate may answer
        return ProviderConnectionError(str(exc), provider=cls.name, kind="other")
    return StreamInterrupted(
        f"{exc}; {reader.chars:,} characters ({reader.chunks} chunks) had been yielded",
        provider=cls.name,
        received_chars=reader.chars,
        received_chunks=reader.chunks,
    )
