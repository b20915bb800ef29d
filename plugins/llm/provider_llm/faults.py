"""llm's exceptions (and those of the SDKs its plugins use) as provider-core's.

llm has no error hierarchy of its own for upstream faults: each plugin raises what its
SDK raises. They are recognised by what they carry, not by their module, so every
plugin's errors map the same way:

* an HTTP status (an exception, or one it was raised from, with an int ``status_code``,
  ``status`` or ``response.status_code`` of 400-599) ->
  :class:`~provider_core.errors.ProviderHTTPError` with that status, the upstream's own
  message, type and code where the SDK parsed its error body, and ``retry_after`` from
  the response's ``retry-after`` header (400, 413 and 422 do not fall back; the others do);
* a network fault (a built-in ``ConnectionError``, ``TimeoutError`` or ``socket.gaierror``
  in the chain, or an SDK exception named like one: ``ConnectError``, ``ReadTimeout``,
  ``APIConnectionError``, ``RemoteProtocolError``...) ->
  :class:`~provider_core.errors.ProviderConnectionError` (``ProviderTimeout`` for a
  timeout), with its ``kind``;
* llm's ``NeedsKeyException`` -> :class:`MissingKey`;
* anything else -> :class:`~provider_core.errors.ProviderError` naming the exception type
  (a fault of the plugin: routing may try the next candidate).

The result is for a fault *before* anything was delivered; :func:`interrupted` words one
that comes after. Every message goes through provider-core's redaction step (it is a
``ProviderError``), so a key an upstream quotes back never shows.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from typing import Any

from provider_core.errors import ProviderConnectionError, ProviderError, ProviderTimeout, StreamInterrupted
from provider_core.secrets import safe_url
from provider_core.transport import parse_retry_after

__all__ = ["MissingKey", "interrupted", "to_provider_error"]

EXCERPT_CHARS = 500


class MissingKey(ProviderError):
    """The model needs a key and none was found (nothing was sent)."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 16:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _status(exc: BaseException) -> int | None:
    for candidate in (getattr(exc, "status_code", None), getattr(exc, "status", None)):
        if isinstance(candidate, int) and not isinstance(candidate, bool) and 400 <= candidate <= 599:
            return candidate
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return code
    return None


def _header(exc: BaseException, name: str) -> str | None:
    headers = getattr(getattr(exc, "response", None), "headers", None)
    try:
        value = headers.get(name) if headers is not None else None
    except Exception:
        return None
    return value if isinstance(value, str) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text[:EXCERPT_CHARS] + ("..." if len(text) > EXCERPT_CHARS else "")


def _message(exc: BaseException) -> str:
    """The upstream's own message: from the parsed error body where the SDK kept one."""
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        inner = body.get("error") if isinstance(body.get("error"), Mapping) else body
        message = _text(inner.get("message"))
        if message:
            return _excerpt(message)
    return _excerpt(_text(getattr(exc, "message", None)) or str(exc))


def _url(exc: BaseException) -> str:
    for holder in (getattr(exc, "request", None), getattr(getattr(exc, "response", None), "request", None)):
        try:
            url = getattr(holder, "url", None)
        except Exception:  # httpx raises when a response has no request
            url = None
        if url is not None:
            return safe_url(str(url))
    return ""


def _http_error(exc: BaseException, status: int, provider: str) -> ProviderError:
    from provider_core.errors import ProviderHTTPError

    return ProviderHTTPError(
        status,
        provider=provider,
        url=_url(exc),
        body_excerpt=_message(exc),
        retry_after=parse_retry_after(_header(exc, "retry-after")),
        error_type=_text(getattr(exc, "type", None)),
        error_code=_text(getattr(exc, "code", None)),
    )


def _names(exc: BaseException) -> list[str]:
    return [kind.__name__ for kind in type(exc).__mro__]


def _network_kind(chain: list[BaseException]) -> str | None:
    """The kind of network fault behind ``chain``, or ``None`` when it is not one."""
    kinds = []
    for exc in chain:
        names = _names(exc)
        if isinstance(exc, socket.gaierror) or "NameResolutionError" in names:
            return "dns"
        if isinstance(exc, ConnectionRefusedError):
            return "refused"
        if "ConnectTimeout" in names:
            kinds.append("connect-timeout")
        elif isinstance(exc, TimeoutError) or any("Timeout" in n for n in names):
            kinds.append("read-timeout")
        elif isinstance(exc, (ConnectionResetError, BrokenPipeError)) or any(
            n in ("RemoteProtocolError", "ReadError", "WriteError", "IncompleteRead") for n in names
        ):
            kinds.append("reset")
        elif isinstance(exc, ConnectionError) or any("Connect" in n for n in names):
            kinds.append("other")
    for kind in ("connect-timeout", "read-timeout", "reset", "other"):
        if kind in kinds:
            return kind
    return None


_KIND_TEXT = {
    "refused": "connection refused",
    "dns": "host name could not be resolved",
    "connect-timeout": "timed out connecting",
    "read-timeout": "timed out waiting for data",
    "reset": "connection reset",
    "other": "connection failed",
}


def to_provider_error(exc: BaseException, provider: str, model: str) -> ProviderError:
    """provider-core's error for ``exc``, raised by llm model ``model`` of ``provider``
    before anything was delivered (see the module documentation)."""
    if isinstance(exc, ProviderError):
        return exc
    chain = list(_chain(exc))
    for link in chain:
        status = _status(link)
        if status is not None:
            return _http_error(link, status, provider)
    kind = _network_kind(chain)
    if kind is not None:
        url = next((u for u in (_url(link) for link in chain) if u), "")
        where = f" ({url})" if url else ""
        cls = ProviderTimeout if kind.endswith("timeout") else ProviderConnectionError
        return cls(f"{provider}: {_KIND_TEXT[kind]}{where}", provider=provider, kind=kind, url=url)
    if "NeedsKeyException" in _names(exc):
        return MissingKey(f"{provider}: {model}: {exc}", provider=provider)
    detail = _excerpt(str(exc))
    return ProviderError(
        f"{provider}: llm model {model!r} raised {type(exc).__name__}{': ' + detail if detail else ''}",
        provider=provider,
    )


def interrupted(error: ProviderError, provider: str, chars: int, items: int) -> StreamInterrupted:
    """``error``, met after ``items`` items (``chars`` characters of text) were delivered,
    as the :class:`StreamInterrupted` the caller gets."""
    if isinstance(error, StreamInterrupted):
        return error
    text = str(error)
    prefix = f"{provider}: "
    cause = text[len(prefix) :] if text.startswith(prefix) else text
    return StreamInterrupted(
        f"{provider}: the reply broke off after {chars:,} characters: {cause}",
        provider=provider,
        received_chars=chars,
        received_chunks=items,
        kind=getattr(error, "kind", None),
    )
