"""The ``Gemini`` provider: configuration from the environment, and ``create_completion``.

The core checks the model, the messages and the options once before ``create_completion``
runs (:class:`~provider_core.provider.AbstractProvider` does it for a direct call):
:class:`~provider_core.errors.ModelNotSupported` for a model not in :data:`models`,
:class:`~provider_core.errors.InvalidMessages` for bad input. ``create_completion`` then
translates the request, refusing only what Gemini cannot take
(:class:`~provider_core.errors.InvalidMessages`) or a call without a key
(:class:`~provider_gemini.wire_errors.MissingKey`), before anything is sent; then it sends ``POST
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

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from provider_core.errors import InvalidMessages
from provider_core.provider import AbstractProvider, CreateResult, Messages
from provider_core.secrets import quoted_url, safe_url

from .catalog import DEFAULT_MODEL, display_names

__all__ = [
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "ENV_BASE_URL",
    "ENV_KEY",
    "ENV_KEY_FALLBACK",
    "Gemini",
    "configure",
    "normalize_base_url",
]

ENV_KEY = "GEMINI_API_KEY"
ENV_KEY_FALLBACK = "GOOGLE_API_KEY"
ENV_BASE_URL = "GEMINI_BASE_URL"
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
API_VERSION = "v1beta"
USER_AGENT = "provider-core-gemini/0.1"
_NO_KEY = f"API key variable {ENV_KEY} (or {ENV_KEY_FALLBACK}) is not set"


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
    def create_completion(cls, model: str, messages: Messages, stream: bool, **kwargs: Any) -> CreateResult:
        """Send one request (``model``, ``messages`` and the request keywords arrive checked
        by the core); see the module documentation. Keywords: ``api_key``,
        ``base_url`` (scheme and host, without ``/v1beta``; the environment's key is only
        sent to the environment's base URL), ``timeout`` (seconds or (connect, read)),
        ``proxy``, and the request keywords of :func:`provider_gemini.protocol.build_body`."""
        from .exchange import Exchange
        from .protocol import build_body
        from .signatures import MEMORY

        base, key, key_hint = _endpoint(cls, kwargs)
        body = build_body(messages, kwargs, MEMORY.recall)
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            "user-agent": USER_AGENT,
            "x-goog-api-key": key,
        }
        exchange = Exchange(cls.name, f"{base}/{API_VERSION}/models/{model}:{method}", key, key_hint)
        request = {"json": body, "headers": headers, "timeout": kwargs.get("timeout"), "proxy": kwargs.get("proxy")}
        return exchange.run(request, stream)


def normalize_base_url(value: Any) -> str:
    """``value`` without trailing slashes or a trailing ``/v1beta`` / ``/v1``; raises
    ``ValueError`` unless it is an http(s) URL."""
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ValueError(f"must be an http:// or https:// URL, got {quoted_url(value)}")
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
        attrs["base_url"] = normalize_base_url(environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL)
        attrs["url"] = safe_url(attrs["base_url"])  # shown and used as a cache key: no credentials
    except ValueError as exc:
        reason = f"{ENV_BASE_URL} {exc}"
    attrs.update(working=reason is None, status_reason=reason)
    return type("Gemini", (Gemini,), attrs)


def _endpoint(cls: type[Gemini], options: Mapping[str, Any]) -> tuple[str, str, str]:
    """``(base URL, key, where the key came from)`` for this call."""
    base = cls.base_url
    if options.get("base_url") is not None:
        try:
            base = normalize_base_url(options["base_url"])
        except ValueError as exc:
            raise InvalidMessages([("base_url", str(exc))], provider=cls.name) from None
    if options.get("api_key") is not None:
        from provider_core.secrets import reveal

        return base, str(reveal(options["api_key"])), "the api_key keyword"
    if cls.api_key is not None and base == cls.base_url:
        hint = ENV_KEY if cls.key_source == ENV_KEY else f"{cls.key_source} ({ENV_KEY} is unset)"
        return base, cls.api_key.get_secret_value(), hint
    why = f"{_NO_KEY} and no api_key was given"
    if cls.api_key is not None:
        why = f"a base_url was given without an api_key (the {cls.key_source} key is only sent to {cls.base_url})"
    from .wire_errors import MissingKey

    raise MissingKey(f"{cls.name}: {why}; nothing was sent", provider=cls.name)
