"""The HTTP layer providers share: one pooled session per process, timeouts that are never
unlimited, and every requests/urllib3 failure mapped onto the provider-core hierarchy.

``stream_post(...)`` sends one request and yields the body's bytes as they arrive. It
raises, before the first byte, :class:`ProviderHTTPError` for a 4xx/5xx,
:class:`ProviderTimeout` / :class:`ProviderConnectionError` for network faults (saying
which and where); after some bytes, :class:`StreamInterrupted` with the count received.
The response is closed whenever the iterator ends, fails, or is closed or dropped early.
``request_json(...)`` sends one request (GET, or a non-streamed POST) and returns the
reply parsed as JSON, with the same typed errors. Both take an optional ``parse_error``
that reads a provider's JSON error body into the error's message, type and code.

requests is imported when the first request is made, not when this module is.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from . import abort
from .errors import ProviderConnectionError, ProviderError, ProviderTimeout, StreamInterrupted
from .secrets import redact, remember_request, safe_url, secret_values

__all__ = [
    "DEFAULT_TIMEOUT",
    "ErrorParser",
    "get_session",
    "normalize_timeout",
    "parse_retry_after",
    "request_json",
    "stream_post",
]

#: (connect, read) seconds: read is the longest wait for the next bytes, not the whole reply.
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 120.0)
READ_SIZE = 65536
EXCERPT_CHARS = 200
#: How much of an error body is read (for its excerpt, or for ``parse_error``).
ERROR_BODY_BYTES = 16384
#: Largest JSON reply :func:`request_json` accepts.
MAX_JSON_BYTES = 32 * 1024 * 1024

_session: Any = None
#: Connections kept per host: as many as the default worker pool runs streams at once
#: (provider_core.workers.DEFAULT_THREADS), so a busy gateway does not discard and reopen
#: them. Slots are filled only as connections are made.
POOL_MAXSIZE = 256

_session_pid = 0
_session_lock = threading.Lock()


def get_session() -> Any:
    """The process's pooled :class:`requests.Session` (recreated after a fork)."""
    global _session, _session_pid
    if _session is None or _session_pid != os.getpid():
        with _session_lock:
            if _session is None or _session_pid != os.getpid():
                import requests
                from requests.adapters import HTTPAdapter

                from .logfilters import install_log_filters

                install_log_filters()
                session = requests.Session()
                adapter_class = abort.abortable_adapter(HTTPAdapter)
                adapter = adapter_class(pool_connections=16, pool_maxsize=POOL_MAXSIZE, max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                _session, _session_pid = session, os.getpid()
    return _session


def _aborted() -> bool:
    scope = abort.current()
    return scope is not None and scope.aborted


def normalize_timeout(timeout: Any) -> tuple[float, float]:
    """``None`` -> :data:`DEFAULT_TIMEOUT`; a number -> both; a pair -> (connect, read).
    Every value must be a positive finite number: there is no unlimited wait."""
    if timeout is None:
        return DEFAULT_TIMEOUT
    pair = (timeout, timeout) if isinstance(timeout, (int, float)) else tuple(timeout)
    if len(pair) != 2 or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf") for v in pair
    ):
        from .errors import InvalidMessages

        raise InvalidMessages([("timeout", f"must be a positive number or a (connect, read) pair, got {timeout!r}")])
    return float(pair[0]), float(pair[1])


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date; never
    negative); ``None`` when absent or unreadable. Plugins that see an upstream's headers
    through another client (the llm bridge) read it with this too."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        import time

        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _excerpt(raw: bytes, limit: int = EXCERPT_CHARS) -> str:
    text = " ".join(raw.decode("utf-8", "replace").split())
    return text[:limit] + ("..." if len(text) > limit else "")


def _read_limited(response: Any, limit: int) -> bytes:
    """Up to ``limit`` bytes of the (decoded) body; nothing on a read failure."""
    parts: list[bytes] = []
    size = 0
    try:
        while size < limit:
            data = response.raw.read(min(READ_SIZE, limit - size), decode_content=True)
            if not data:
                break
            parts.append(data)
            size += len(data)
    except Exception:
        pass
    return b"".join(parts)


#: ``parse_error(body) -> (message, type, code) | None``: reads a provider's error body
#: (e.g. ``{"error": {"message": ..., "type": ...}}``); ``None`` keeps the raw excerpt.
ErrorParser = Callable[[bytes], "tuple[str, str | None, str | None] | None"]


def _http_error(
    provider: str, url: str, response: Any, parse_error: ErrorParser | None, secrets: tuple[str, ...] = ()
) -> ProviderError:
    """The typed error for an error status; ``secrets`` are removed from the quoted body
    (an upstream may echo the key it refused)."""
    from .errors import ProviderHTTPError

    body = _read_limited(response, ERROR_BODY_BYTES)
    parsed = None
    if parse_error is not None:
        try:
            parsed = parse_error(body)
        except Exception:
            parsed = None
    message, error_type, error_code = parsed if parsed else (None, None, None)
    excerpt = _excerpt(message.encode("utf-8"), 500) if message else _excerpt(body)
    return ProviderHTTPError(
        response.status_code,
        provider=provider,
        url=safe_url(url),
        reason=response.reason or "",
        body_excerpt=redact(excerpt, secrets),  # and the book's, in ProviderHTTPError
        retry_after=parse_retry_after(response.headers.get("retry-after")),
        error_type=error_type,
        error_code=error_code,
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        for arg in getattr(current, "args", ()):
            if isinstance(arg, BaseException) and id(arg) not in seen:
                yield from _chain(arg)
        current = current.__cause__ or current.__context__ or getattr(current, "reason", None)


def _classify(exc: BaseException) -> str:
    """Name the network fault behind a requests/urllib3 exception."""
    import requests
    import urllib3.exceptions as u3

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect-timeout"
    if isinstance(exc, (requests.exceptions.ReadTimeout, u3.ReadTimeoutError, socket.timeout)):
        return "read-timeout"
    if isinstance(exc, requests.exceptions.ProxyError):
        return "proxy"
    if isinstance(exc, requests.exceptions.SSLError):
        return "ssl"
    causes = list(_chain(exc))
    for cause in causes:
        if isinstance(cause, socket.gaierror) or type(cause).__name__ == "NameResolutionError":
            return "dns"
        if isinstance(cause, ConnectionRefusedError):
            return "refused"
    for cause in causes:
        if isinstance(cause, u3.ReadTimeoutError):
            return "read-timeout"
        # urllib3's NewConnectionError (refused, unreachable, ...) subclasses ConnectTimeoutError
        if isinstance(cause, u3.ConnectTimeoutError) and not isinstance(cause, u3.NewConnectionError):
            return "connect-timeout"
        if isinstance(cause, (ConnectionResetError, BrokenPipeError, u3.ProtocolError)):
            return "reset"
    return "other"


_KIND_TEXT = {
    "refused": "connection refused",
    "dns": "host name could not be resolved",
    "connect-timeout": "timed out connecting",
    "read-timeout": "timed out waiting for data",
    "reset": "connection reset by peer",
    "proxy": "proxy failed",
    "ssl": "TLS failed",
    "other": "connection failed",
}


def _network_error(exc: BaseException, provider: str, url: str, timeout: tuple[float, float]) -> ProviderError:
    kind = _classify(exc)
    url = safe_url(url)
    text = f"{provider}: {_KIND_TEXT[kind]} ({url})"
    if kind == "connect-timeout":
        text += f" after {timeout[0]:g}s"
    elif kind == "read-timeout":
        text += f" after {timeout[1]:g}s"
    cls = ProviderTimeout if kind.endswith("timeout") else ProviderConnectionError
    return cls(text, provider=provider, kind=kind, url=url)


def _send(
    provider: str,
    method: str,
    url: str,
    *,
    json: Any,
    headers: Mapping[str, str] | None,
    limits: tuple[float, float],
    proxy: str | None,
    parse_error: ErrorParser | None,
) -> Any:
    """Send one request with a streamed body; raise typed errors for network faults and
    for an HTTP error status (the response is closed then). Returns the open response."""
    import requests

    proxies = {"http": proxy, "https": proxy} if proxy else None
    remember_request(url, headers)  # an upstream that quotes them back is redacted
    if proxy:
        remember_request(proxy, None)
    try:
        response = get_session().request(
            method, url, json=json, headers=headers, timeout=limits, proxies=proxies, stream=True
        )
    except requests.exceptions.RequestException as exc:
        _release()
        if _aborted():
            raise abort.Aborted from None
        raise _network_error(exc, provider, url, limits) from None
    if response.status_code >= 400:
        try:
            secrets = secret_values(headers=headers, body=json)
            raise _http_error(provider, url, response, parse_error, secrets)
        finally:
            response.close()
            _release()
    return response


def stream_post(
    provider: str,
    url: str,
    *,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: Any = None,
    proxy: str | None = None,
    parse_error: ErrorParser | None = None,
) -> Iterator[bytes]:
    """POST ``json`` to ``url`` and yield the response body's bytes as they arrive.

    A generator: nothing is sent until the first ``next()``, and closing it (or dropping
    it) closes the response. ``parse_error`` (optional) turns an error body into the
    :class:`ProviderHTTPError`'s message, type and code.
    """
    import urllib3.exceptions as u3

    limits = normalize_timeout(timeout)
    response = _send(
        provider, "POST", url, json=json, headers=headers, limits=limits, proxy=proxy, parse_error=parse_error
    )
    received = 0
    try:
        raw = response.raw
        if raw.chunked and raw.supports_chunked_reads():
            source: Iterator[bytes] = raw.read_chunked(None, decode_content=True)
        else:
            source = iter(lambda: raw.read1(READ_SIZE, decode_content=True), b"")
        try:
            for data in source:
                if data:
                    received += len(data)
                    yield data
        except (u3.HTTPError, OSError) as exc:
            if _aborted():
                raise abort.Aborted from None
            error = _network_error(exc, provider, url, limits)
            if received == 0:
                raise error from None
            raise StreamInterrupted(
                f"{error}, {received:,} bytes into the reply",
                provider=provider,
                received_bytes=received,
                kind=getattr(error, "kind", None),
            ) from None
    finally:
        response.close()
        _release()


def _release() -> None:
    """The response is closed: its connection is back in the pool, out of the scope's reach."""
    scope = abort.current()
    if scope is not None:
        scope.release()


def request_json(
    provider: str,
    method: str,
    url: str,
    *,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: Any = None,
    proxy: str | None = None,
    parse_error: ErrorParser | None = None,
    max_bytes: int = MAX_JSON_BYTES,
) -> Any:
    """Send one request (``GET``, or ``POST`` with a ``json`` body) and return the reply
    parsed as JSON, with the same typed errors as :func:`stream_post`.

    A reply that is cut off raises :class:`ProviderConnectionError` (nothing partial is
    returned); one larger than ``max_bytes`` or that is not JSON raises
    :class:`ProviderError` saying so.
    """
    import urllib3.exceptions as u3

    from .streaming import json_loads

    limits = normalize_timeout(timeout)
    response = _send(
        provider, method, url, json=json, headers=headers, limits=limits, proxy=proxy, parse_error=parse_error
    )
    parts: list[bytes] = []
    size = 0
    try:
        while True:
            data = response.raw.read(READ_SIZE, decode_content=True)
            if not data:
                break
            size += len(data)
            if size > max_bytes:
                raise ProviderError(
                    f"{provider}: reply from {safe_url(url)} is larger than {max_bytes:,} bytes", provider=provider
                )
            parts.append(data)
    except (u3.HTTPError, OSError) as exc:
        if _aborted():
            raise abort.Aborted from None
        raise _network_error(exc, provider, url, limits) from None
    finally:
        response.close()
        _release()
    body = b"".join(parts)
    try:
        return json_loads(body)
    except ValueError:
        raise ProviderError(
            f"{provider}: reply from {safe_url(url)} is not JSON: {_excerpt(body) or '(empty body)'}", provider=provider
        ) from None
