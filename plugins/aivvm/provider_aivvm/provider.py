"""The Aivvm provider: ``POST {base_url}/api/chat``, a JSON body, a plain-text streamed reply.

The wire protocol is the one of the original provider (see ``docs/aivvm.md``)::

    POST https://chat.aivvm.com/api/chat
    accept: text/event-stream
    content-type: application/json
    user-agent: <a desktop browser>
    origin: https://chat.aivvm.com
    referer: https://chat.aivvm.com/

    {"model": {"id": "gpt-4", "name": "GPT-4"}, "messages": [...], "key": "",
     "prompt": "<system prompt>", "temperature": 0.7}

and the reply body is the completion as plain UTF-8 text, streamed in chunks of any size.

What differs from the original, on purpose: one pooled HTTP session per process instead of
one per call, connect and read timeouts instead of none, typed errors, and exact incremental
UTF-8 decoding (a character split across two network reads is never corrupted).

Importing this module is cheap: requests is imported when the first request is sent.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from provider_core.errors import InvalidMessages
from provider_core.provider import AbstractProvider, CreateResult, Messages
from provider_core.records import Record
from provider_core.secrets import quoted_url

if TYPE_CHECKING:
    from urllib.parse import SplitResult

__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "DEFAULT_PROMPT",
    "DEFAULT_TEMPERATURE",
    "MODELS",
    "USER_AGENT",
    "Aivvm",
    "AivvmRequest",
    "build_request",
    "resolve_base_url",
]

DEFAULT_BASE_URL = "https://chat.aivvm.com"
#: Environment variable naming another base URL (a mirror, or a loopback test server).
BASE_URL_ENV = "AIVVM_BASE_URL"
#: The path the request is sent to, under the base URL.
CHAT_PATH = "/api/chat"

#: The system prompt sent when neither ``system_message=`` nor a system message is given.
DEFAULT_PROMPT = (
    "You are ChatGPT, a large language model trained by OpenAI. "
    "Follow the user's instructions carefully. Respond using markdown."
)
DEFAULT_TEMPERATURE = 0.7
DEFAULT_MODEL = "gpt-3.5-turbo"

#: Model id -> the display name the service expects next to it.
MODELS: Mapping[str, str] = {
    "gpt-3.5-turbo": "GPT-3.5",
    "gpt-3.5-turbo-0613": "GPT-3.5-0613",
    "gpt-3.5-turbo-16k": "GPT-3.5-16K",
    "gpt-3.5-turbo-16k-0613": "GPT-3.5-16K-0613",
    "gpt-4": "GPT-4",
    "gpt-4-0613": "GPT-4-0613",
    "gpt-4-32k": "GPT-4-32K",
    "gpt-4-32k-0613": "GPT-4-32K-0613",
}

#: The browser the requests present themselves as (the site serves browsers).
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/116.0.0.0 Safari/537.36"
)

#: The role whose messages are moved into ``prompt`` (see :func:`split_system`).
_SYSTEM = "system"
#: Proxy URL schemes requests understands (socks ones need requests[socks]).
_PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")


def _urlsplit(url: str) -> SplitResult:
    """:func:`urllib.parse.urlsplit`, imported at the first use: every command's start
    imports this module (the registry lists Aivvm), and ``urllib.parse`` with the
    ``ipaddress`` module it brings costs about 2 ms of each (bench/RESULTS.md, "CLI cold
    start"); no listing needs it."""
    from urllib.parse import urlsplit as split

    return split(url)


def resolve_base_url(base_url: str | None = None) -> str:
    """The base URL to use: ``base_url`` if given, else ``$AIVVM_BASE_URL`` if set and not
    empty, else :data:`DEFAULT_BASE_URL`. Returned without a trailing slash.

    Raises :class:`~provider_core.errors.InvalidMessages` (naming ``base_url`` or the
    variable) unless it is an absolute ``http://`` or ``https://`` URL with a host.
    """
    where = "base_url"
    if base_url is None:
        env = os.environ.get(BASE_URL_ENV, "").strip()
        if env:
            base_url, where = env, BASE_URL_ENV
        else:
            base_url = DEFAULT_BASE_URL
    if not isinstance(base_url, str):
        raise InvalidMessages([(where, f"must be a URL string, got {type(base_url).__name__}")], provider="Aivvm")
    parts = _urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidMessages(
            [(where, f"must be an absolute http:// or https:// URL, got {quoted_url(base_url)}")], provider="Aivvm"
        )
    if parts.query or parts.fragment:
        raise InvalidMessages(
            [(where, f"must not have a query or fragment, got one after {quoted_url(base_url)}")], provider="Aivvm"
        )
    return base_url.strip().rstrip("/")


def _origin(base_url: str) -> str:
    parts = _urlsplit(base_url)
    netloc = parts.netloc.rsplit("@", 1)[-1]  # never the user name or password of the URL
    return f"{parts.scheme}://{netloc}"


def build_headers(base_url: str) -> dict[str, str]:
    """The request headers: those of the site's own page, with ``origin`` and ``referer``
    naming the site at ``base_url`` (so a mirror or test server sees itself as the origin)."""
    origin = _origin(base_url)
    return {
        "accept": "text/event-stream",
        "accept-language": "en-US,en;q=0.9",
        "content-type": "application/json",
        "origin": origin,
        "referer": origin + "/",
        "user-agent": USER_AGENT,
    }


def split_system(messages: Messages, system_message: str | None) -> tuple[str, list[dict[str, str]]]:
    """Map the system instructions onto the protocol's ``prompt`` field.

    ``prompt`` is ``system_message`` and the content of every ``system`` message in
    ``messages``, in that order, joined by a blank line; :data:`DEFAULT_PROMPT` when there
    is none of them (an empty ``system_message`` counts as none). The system messages are
    taken out of ``messages``, so the instructions are sent once and never lost; the other
    messages keep their order and are sent as ``{"role", "content"}``.
    """
    parts = [system_message] if system_message else []
    kept: list[dict[str, str]] = []
    for message in messages:
        if message["role"] == _SYSTEM:
            if message["content"]:
                parts.append(message["content"])
        else:
            kept.append({"role": message["role"], "content": message["content"]})
    return ("\n\n".join(parts) if parts else DEFAULT_PROMPT), kept


def _is_proxy_url(proxy: Any) -> bool:
    if not isinstance(proxy, str):
        return False
    parts = _urlsplit(proxy)
    return parts.scheme in _PROXY_SCHEMES and bool(parts.hostname)


class AivvmRequest(Record):
    """One request, fully built and checked, not yet sent."""

    _fields = ("url", "headers", "body", "timeout", "proxy")
    __slots__ = _fields
    url: str
    headers: dict[str, str]
    body: dict[str, Any]
    timeout: tuple[float, float]
    proxy: str | None


def build_request(model: str, messages: Messages, **kwargs: Any) -> AivvmRequest:
    """Build the request :meth:`Aivvm.create_completion` sends, from input the core has
    checked (a model of :data:`MODELS`, valid messages and temperature).

    Keywords: ``system_message``, ``temperature`` (default 0.7), ``base_url``, ``proxy``
    (a proxy URL such as ``http://host:3128``; empty or ``None``: none), ``timeout``
    (seconds, or a ``(connect, read)`` pair). Other keywords are ignored. Raises
    :class:`InvalidMessages` for a keyword of its own that is wrong; sends nothing.
    """
    from provider_core.transport import normalize_timeout

    system_message = kwargs.get("system_message")
    if system_message is not None and not isinstance(system_message, str):
        raise InvalidMessages(
            [("system_message", f"must be a string, got {type(system_message).__name__}")], provider=Aivvm.name
        )
    proxy = kwargs.get("proxy") or None
    if proxy is not None and not _is_proxy_url(proxy):
        raise InvalidMessages(
            [("proxy", f"must be a proxy URL such as http://host:port, got {proxy!r}")], provider=Aivvm.name
        )
    temperature = kwargs.get("temperature")
    prompt, kept = split_system(messages, system_message)
    base_url = resolve_base_url(kwargs.get("base_url"))
    body = {
        "model": {"id": model, "name": MODELS[model]},
        "messages": kept,
        "key": "",
        "prompt": prompt,
        "temperature": DEFAULT_TEMPERATURE if temperature is None else temperature,
    }
    return AivvmRequest(
        url=base_url + CHAT_PATH,
        headers=build_headers(base_url),
        body=body,
        timeout=normalize_timeout(kwargs.get("timeout")),
        proxy=proxy,
    )


def _stream(request: AivvmRequest) -> Iterator[str]:
    from provider_core.streaming import iter_text
    from provider_core.transport import stream_post

    return iter_text(
        stream_post(
            Aivvm.name,
            request.url,
            json=request.body,
            headers=request.headers,
            timeout=request.timeout,
            proxy=request.proxy,
        )
    )


class Aivvm(AbstractProvider):
    """chat.aivvm.com: GPT-3.5 and GPT-4 models, streamed plain text. Marked not working
    (the service is gone); name it explicitly, e.g. against a mirror or the loopback server."""

    url: ClassVar[str] = DEFAULT_BASE_URL
    working: ClassVar[bool] = False
    supports_stream: ClassVar[bool] = True
    supports_gpt_35_turbo: ClassVar[bool] = True
    supports_gpt_4: ClassVar[bool] = True
    supports_message_history: ClassVar[bool] = True
    needs_auth: ClassVar[bool] = False
    models: ClassVar[Mapping[str, str]] = MODELS
    default_model: ClassVar[str | None] = DEFAULT_MODEL

    @classmethod
    def create_completion(cls, model: str, messages: Messages, stream: bool, **kwargs: Any) -> CreateResult:
        """Send ``messages`` to ``model`` and return the reply as an iterator of text chunks.

        The arguments are checked at once (the core checks the model and messages, see
        :class:`~provider_core.provider.AbstractProvider`; :func:`build_request` the
        keywords); the request is sent at the first ``next()``. Text is yielded as it
        arrives, with ``stream=True`` and ``stream=False`` alike (the protocol has one
        form; the core joins a non-streamed reply). Closing the iterator early closes the
        connection's response.

        Errors while iterating: :class:`~provider_core.errors.ProviderHTTPError` (4xx/5xx),
        :class:`~provider_core.errors.ProviderTimeout` /
        :class:`~provider_core.errors.ProviderConnectionError` (before any byte),
        :class:`~provider_core.errors.StreamInterrupted` (after some bytes).
        """
        return _stream(build_request(model, messages, **kwargs))
