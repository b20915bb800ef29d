"""What a request must look like before anything else looks at it, as ASGI middleware.

* **Host**: a gateway without API keys answers only requests whose ``Host`` is a loopback
  name (``127.0.0.1``, ``localhost``, ``[::1]``, any port) or one of the configured hosts
  (``PROVIDER_CORE_ALLOWED_HOSTS``; ``serve`` adds the address it binds). A web page that
  points a host name of its own at 127.0.0.1 (DNS rebinding) is refused with a 421, so it
  cannot spend the user's provider keys. The health probes stay open.
* **Content type**: a request with a body must say ``application/json`` (a
  ``+json`` type too). A browser sends a cross-site form or ``text/plain`` POST without
  asking first (a "simple" request); refusing every other type with a 415 closes that door
  even when CORS is off.

Both answer in the OpenAI error shape, before the body is read: a foreign host at once,
closing the connection; a wrong content type after discarding the body (within the body
limit and timeout, nothing kept), so that the client can read its 415.
"""

from __future__ import annotations

from collections.abc import Iterable

from .asgi import Receive, Scope, Send, discard_body, has_body, header, send_error
from .errors import ApiError

__all__ = ["LOOPBACK_HOSTS", "OPEN_PATHS", "Guard", "host_name"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: Paths answered whatever the ``Host`` (load balancers and orchestrators probe by address).
OPEN_PATHS = frozenset({"/healthz", "/readyz"})


NOT_JSON = ApiError(
    415,
    "the request body must be JSON: send 'Content-Type: application/json'",
    "invalid_request_error",
    "unsupported_media_type",
)


def host_name(value: bytes | None) -> str | None:
    """The host part of a ``Host`` header value, lower case, without port or brackets."""
    if not value:
        return None
    try:
        text = value.decode("ascii").strip().lower()
    except UnicodeDecodeError:
        return None
    if text.startswith("["):
        end = text.find("]")
        return text[1:end] if end > 0 else None
    name, _, port = text.partition(":")
    if port and not port.isdigit():
        return None
    return name or None


def _json_type(value: bytes | None) -> bool:
    if value is None:
        return False
    kind = value.split(b";", 1)[0].strip().lower()
    return kind == b"application/json" or (kind.startswith(b"application/") and kind.endswith(b"+json"))


class Guard:
    """ASGI middleware: the ``Host`` check (when ``check_host``) and the content-type check."""

    def __init__(
        self,
        app: object,
        *,
        check_host: bool,
        allowed_hosts: Iterable[str] = (),
        max_body_bytes: int = 1024 * 1024,
        body_timeout: float = 20.0,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self.check_host = check_host
        self.allowed = LOOPBACK_HOSTS | {h.strip().lower().strip("[]") for h in allowed_hosts if h.strip()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._foreign_host(scope)
            if refusal is not None:
                await send_error(send, refusal, close=True)
                return
            if has_body(scope) and not _json_type(header(scope, b"content-type")):
                drained = await discard_body(receive, self.max_body_bytes, self.body_timeout)
                await send_error(send, NOT_JSON, close=not drained)
                return
        await self.app(scope, receive, send)  # type: ignore[operator]

    def _foreign_host(self, scope: Scope) -> ApiError | None:
        if self.check_host and scope["path"] not in OPEN_PATHS:
            name = host_name(header(scope, b"host"))
            if name not in self.allowed:
                shown = name if name and name.isprintable() and len(name) < 100 else "missing or malformed"
                return ApiError(
                    421,
                    f"host {shown!r} is not served: without API keys the gateway answers only loopback host "
                    "names (set PROVIDER_CORE_ALLOWED_HOSTS, or turn on keys with PROVIDER_CORE_API_KEYS)",
                    "invalid_request_error",
                    "host_not_allowed",
                )
        return None
