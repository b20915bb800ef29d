"""What every Anthropic request shares: the base URL, the version header, the key header,
and the error body. Pure; only the standard library and provider-core's light modules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from provider_core.secrets import reveal

__all__ = [
    "API_VERSION",
    "BASE_URL_VARIABLE",
    "DEFAULT_BASE_URL",
    "KEY_VARIABLE",
    "NAME",
    "auth_headers",
    "error_details",
    "parse_error_body",
]

#: The provider's name (registry key, and the ``provider`` of every error).
NAME = "Anthropic"
DEFAULT_BASE_URL = "https://api.anthropic.com"
KEY_VARIABLE = "ANTHROPIC_API_KEY"
BASE_URL_VARIABLE = "ANTHROPIC_BASE_URL"
#: The ``anthropic-version`` header: the Messages API version this plugin speaks.
API_VERSION = "2023-06-01"
USER_AGENT = "provider-core-anthropic/0.1"


def auth_headers(key: Any) -> dict[str, str]:
    """The headers of every request: ``anthropic-version`` and, when there is a key (a
    ``SecretStr`` or ``str``), ``x-api-key``. The only place the key is revealed."""
    headers = {"anthropic-version": API_VERSION, "user-agent": USER_AGENT}
    value = reveal(key) if key is not None else None
    if value:
        headers["x-api-key"] = str(value)
    return headers


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def error_details(payload: Any) -> tuple[str, str | None, str | None] | None:
    """``(message, type, None)`` from Anthropic's error object
    ``{"type": "error", "error": {"type": ..., "message": ...}}`` (a bare ``{"type",
    "message"}`` is read too); ``None`` for anything else. Anthropic's errors carry no code."""
    if not isinstance(payload, Mapping):
        return None
    error = payload.get("error", payload)
    if not isinstance(error, Mapping):
        return None
    message = _text(error.get("message"))
    if message is None:
        return None
    error_type = _text(error.get("type"))
    return message, (None if error_type == "error" else error_type), None


def parse_error_body(body: bytes) -> tuple[str, str | None, str | None] | None:
    """The transport's ``parse_error`` callback: an HTTP error body's message and type."""
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return error_details(payload)
