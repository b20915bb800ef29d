"""Bearer-token authentication as ASGI middleware.

With keys configured, every request but the open paths (``/healthz``, for load-balancer
probes) needs ``Authorization: Bearer <key>`` matching one of them; otherwise it gets a 401
in the OpenAI error shape. The decision is taken from the headers alone, before any of the
body is read: an unauthenticated body is never kept in memory, only discarded (within the
body limit and the body timeout) so that the client can read its 401, and a client that
sent ``Expect: 100-continue`` is answered before it sends the body at all. Tokens are compared as SHA-256 digests with
:func:`hmac.compare_digest`, against every key without stopping early, so neither a key's
content nor its length shows in the timing. The token is never echoed or logged.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from .asgi import Receive, Scope, Send, discard_body, has_body, header, send_error
from .errors import ApiError

__all__ = ["OPEN_PATHS", "BearerAuth"]

OPEN_PATHS = frozenset({"/healthz", "/readyz"})

UNAUTHORIZED = ApiError(
    401,
    "missing or invalid API key: send 'Authorization: Bearer <key>' with a key the gateway accepts",
    "invalid_request_error",
    "invalid_api_key",
    headers={"www-authenticate": "Bearer"},
)


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


class BearerAuth:
    """ASGI middleware: refuse requests without an accepted bearer token (401)."""

    def __init__(
        self,
        app: object,
        keys: Iterable[str],
        open_paths: Iterable[str] = OPEN_PATHS,
        *,
        max_body_bytes: int = 1024 * 1024,
        body_timeout: float = 20.0,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        self._digests = tuple(_digest(k.encode("utf-8")) for k in keys)
        self._open = frozenset(open_paths)

    def accepts(self, authorization: bytes | None) -> bool:
        """Whether an ``Authorization`` header value carries an accepted key."""
        if not authorization:
            return False
        scheme, _, token = authorization.strip().partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        given = _digest(token.strip())
        ok = False
        for expected in self._digests:
            ok |= hmac.compare_digest(given, expected)
        return ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._digests or scope["path"] in self._open:
            await self.app(scope, receive, send)  # type: ignore[operator]
            return
        if self.accepts(header(scope, b"authorization")):
            await self.app(scope, receive, send)  # type: ignore[operator]
            return
        expects = (header(scope, b"expect") or b"").lower() == b"100-continue"
        drained = not has_body(scope) or (
            not expects and await discard_body(receive, self.max_body_bytes, self.body_timeout)
        )
        await send_error(send, UNAUTHORIZED, close=not drained)
