"""Bearer-token authentication as ASGI middleware.

With keys configured, every request but the open paths (``/healthz``, for load-balancer
probes) needs ``Authorization: Bearer <key>`` matching one of them; otherwise it gets a 401
in the OpenAI error shape. Tokens are compared as SHA-256 digests with
:func:`hmac.compare_digest`, against every key without stopping early, so neither a key's
content nor its length shows in the timing. The token is never echoed or logged.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from .asgi import Receive, Scope, Send, header, send_error
from .errors import ApiError

__all__ = ["OPEN_PATHS", "BearerAuth"]

OPEN_PATHS = frozenset({"/healthz"})

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

    def __init__(self, app: object, keys: Iterable[str], open_paths: Iterable[str] = OPEN_PATHS) -> None:
        self.app = app
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
        await send_error(send, UNAUTHORIZED)
