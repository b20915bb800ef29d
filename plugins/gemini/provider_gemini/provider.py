"""The ``Gemini`` provider: configuration from the environment, and ``create_completion``.

``create_completion`` checks the model and translates the request before anything is sent
(:class:`~provider_core.errors.ModelNotSupported`, :class:`~provider_core.errors.InvalidMessages`,
:class:`~provider_gemini.wire_errors.MissingKey`), then sends ``POST
{base}/v1beta/models/{model}:generateContent`` (or ``:streamGenerateContent?alt=sse``) with
the key in the ``x-goog-api-key`` header, and yields text, whole
:class:`~provider_core.events.ToolCall` objects, one :class:`~provider_core.events.Usage`
and the :class:`~provider_core.events.FinishReason`, last. Errors, by when they happen:

* an HTTP error status: the transport's ``ProviderHTTPError`` with Google's message,
  ``status`` (as ``error_type``) and ``ErrorInfo`` reason (as ``error_code``); a 400 whose
  reason is ``API_KEY_INVALID`` is an authentication failure: its text names the key's
  variable and it may fall back; a 429 without ``Retry-After`` takes ``RetryInfo``'s delay;
* an error object in a 200 reply before anything was yielded: ``UpstreamError`` (falls
  back unless Google calls the request ``INVALID_ARGUMENT``); after: ``StreamInterrupted``;
* a stream that ends without a ``finishReason``: ``StreamInterrupted`` after something was
  yielded, ``ProviderConnectionError`` before;
* a reply with neither text nor a function call: ``EmptyResponse`` (``ContentFiltered``
  when a safety filter blocked it).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, ClassVar, NoReturn

from provider_core.errors import (
    InvalidMessages,
    ModelNotSupported,
    ProviderConnectionError,
    StreamInterrupted,
    UpstreamError,
)
from provider_core.provider import AbstractProvider
from provider_core.secrets import redact, reveal
from provider_core.sse import SSEEvent, SSEParser

from .catalog import DEFAULT_MODEL, display_names
from .protocol import build_body
from .replies import ReplyState
from .signatures import SignatureMemory
from .wire_errors import ErrorDetails, ErrorRecorder, MissingKey, error_details

__all__ = [
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "ENV_BASE_URL",
    "ENV_KEY",
    "ENV_KEY_FALLBACK",
    "Gemini",
    "configure",
    "normalize_base_url",
    "signature_memory",
]

ENV_KEY = "GEMINI_API_KEY"
ENV_KEY_FALLBACK = "GOOGLE_API_KEY"
ENV_BASE_URL = "GEMINI_BASE_URL"
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
API_VERSION = "v1beta"
USER_AGENT = "provider-core-gemini/0.1"
_NO_KEY = f"API key variable {ENV_KEY} (or {ENV_KEY_FALLBACK}) is not set"

#: Thought signatures of the function calls received in this process (see signatures.py).
signature_memory = SignatureMemory()


class Gemini(AbstractProvider):
    """Google's Gemini API (``generateContent``). The class registered is the subclass
    :func:`configure` makes, which holds the key and base URL read from the environment;
    ``api_key=`` / ``base_url=`` per call override them."""

    name = "Gemini"
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
    status_reason: ClassVar[str | None] = _NO_KEY
    #: The key (a pydantic ``SecretStr``) and the variable it came from, or ``None``.
    api_key: ClassVar[Any] = None
    key_source: ClassVar[str | None] = None
    base_url: ClassVar[str] = DEFAULT_BASE_URL

    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[Any]:
        """Send one request; see the module documentation. Keywords: ``api_key``,
        ``base_url`` (scheme and host, without ``/v1beta``; the environment's key is only
        sent to the environment's base URL), ``timeout`` (seconds or (connect, read)),
        ``proxy``, and the request keywords of :func:`provider_gemini.protocol.build_body`."""
        model = _check_model(cls, model)
        base, key, key_hint = _endpoint(cls, kwargs)
        body = build_body(messages, kwargs, signature_memory.recall)
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            "user-agent": USER_AGENT,
            "x-goog-api-key": key,
        }
        call = _Call(cls.name, f"{base}/{API_VERSION}/models/{model}:{method}", key, key_hint)
        request = {"json": body, "headers": headers, "timeout": kwargs.get("timeout"), "proxy": kwargs.get("proxy")}
        return call.run(request, stream)


def normalize_base_url(value: Any) -> str:
    """``value`` without trailing slashes or a trailing ``/v1beta`` / ``/v1``; raises
    ``ValueError`` unless it is an http(s) URL."""
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
    base = value.rstrip("/")
    for suffix in ("/v1beta", "/v1"):
        base = base.removesuffix(suffix)
    return base.rstrip("/")


def configure(environ: Mapping[str, str]) -> type[Gemini]:
    """The ``Gemini`` class to register, configured from ``environ``: the key from
    ``GEMINI_API_KEY``, else ``GOOGLE_API_KEY`` (read once, into a ``SecretStr``), the base URL
    from ``GEMINI_BASE_URL``. Without a key, or with a bad base URL, it is not working and
    ``status_reason`` says why. No I/O."""
    attrs: dict[str, Any] = {"__module__": __name__, "__doc__": Gemini.__doc__}
    source = next((var for var in (ENV_KEY, ENV_KEY_FALLBACK) if environ.get(var, "").strip()), None)
    reason = None if source else _NO_KEY
    if source:
        from pydantic import SecretStr

        attrs.update(api_key=SecretStr(environ[source].strip()), key_source=source)
    try:
        attrs["base_url"] = attrs["url"] = normalize_base_url(environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL)
    except ValueError as exc:
        reason = f"{ENV_BASE_URL} {exc}"
    attrs.update(working=reason is None, status_reason=reason)
    return type("Gemini", (Gemini,), attrs)


def _check_model(cls: type[Gemini], model: str) -> str:
    model = model or cls.default_model or ""
    if model not in cls.models:
        close = difflib.get_close_matches(model, list(cls.models), n=3, cutoff=0.6)
        raise ModelNotSupported(model, provider=cls.name, suggestions=close)
    return model


def _endpoint(cls: type[Gemini], options: Mapping[str, Any]) -> tuple[str, str, str]:
    """``(base URL, key, where the key came from)`` for this call."""
    base = cls.base_url
    if options.get("base_url") is not None:
        try:
            base = normalize_base_url(options["base_url"])
        except ValueError as exc:
            raise InvalidMessages([("base_url", str(exc))], provider=cls.name) from None
    if options.get("api_key") is not None:
        return base, str(reveal(options["api_key"])), "the api_key keyword"
    if cls.api_key is not None and base == cls.base_url:
        hint = ENV_KEY if cls.key_source == ENV_KEY else f"{cls.key_source} ({ENV_KEY} is unset)"
        return base, cls.api_key.get_secret_value(), hint
    why = f"{_NO_KEY} and no api_key was given"
    if cls.api_key is not None:
        why = f"a base_url was given without an api_key (the {cls.key_source} key is only sent to {cls.base_url})"
    raise MissingKey(f"{cls.name}: {why}; nothing was sent", provider=cls.name)


class _Call:
    """One request in flight: where it goes, and the key to keep out of error texts."""

    def __init__(self, provider: str, url: str, key: str, key_hint: str) -> None:
        self.provider = provider
        self.url = url
        self.secrets = (key,) if key else ()
        self.key_hint = key_hint

    def run(self, request: dict[str, Any], stream: bool) -> Iterator[Any]:
        from provider_core.errors import ProviderHTTPError

        recorder = ErrorRecorder()
        request["parse_error"] = recorder
        try:
            yield from self._stream(request) if stream else self._once(request)
        except ProviderHTTPError as exc:
            raise self._http_error(exc, recorder.details) from None

    def _http_error(self, exc: Any, details: ErrorDetails | None) -> Any:
        """A refused key becomes an authentication error naming its variable (and may fall
        back); a 429 without ``Retry-After`` takes ``RetryInfo``'s delay."""
        from provider_core.errors import ProviderHTTPError

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
        from provider_core.events import ToolCall
        from provider_core.transport import request_json

        payload = request_json(self.provider, "POST", self.url, **request)
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
        from provider_core.streaming import iter_text
        from provider_core.transport import stream_post

        texts = iter_text(stream_post(self.provider, self.url, **request))
        parser = SSEParser()
        state = ReplyState()
        yielded = 0
        try:
            try:
                for text in texts:
                    for event in parser.feed(text):
                        for item in self._event(event, state, yielded):
                            yielded += 1
                            yield item
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

    def _event(self, event: SSEEvent, state: ReplyState, yielded: int) -> list[Any]:
        try:
            payload = json.loads(event.data)
        except ValueError:
            self._fail(ErrorDetails(f"the stream carried a frame that is not JSON: {event.data[:200]!r}"), state, yielded)
        return self._frame(payload, state, yielded)

    def _frame(self, payload: Any, state: ReplyState, yielded: int) -> list[Any]:
        """The items of one reply object; an error object raises."""
        details = error_details(payload)
        if details is not None:
            self._fail(details, state, yielded)
        try:
            items = state.feed(payload)
        except ValueError as exc:
            self._fail(ErrorDetails(f"unexpected reply: {exc}"), state, yielded)
        for call_id, signature in state.signatures:
            signature_memory.remember(call_id, signature)
        state.signatures.clear()
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
