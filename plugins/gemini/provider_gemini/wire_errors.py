"""Gemini's error bodies, and the plugin's own typed errors. Pure; no I/O.

An error body (of an HTTP error status, or a frame of a 200 stream) is Google's RPC status::

    {"error": {"code": 429, "message": "...", "status": "RESOURCE_EXHAUSTED",
               "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "..."},
                           {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]}}

:func:`error_details` reads it into :class:`ErrorDetails`: the ``status`` is the error's
type, the ``ErrorInfo`` reason (e.g. ``API_KEY_INVALID``) its code, and a ``RetryInfo``
delay says when to come back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provider_core.errors import EmptyResponse, ProviderError

__all__ = [
    "ContentFiltered",
    "ErrorDetails",
    "ErrorRecorder",
    "MissingKey",
    "error_details",
    "parse_error_body",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?)s\s*$")
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
#: The ErrorInfo reason Google gives when it refuses the key itself (with HTTP 400).
KEY_INVALID = "API_KEY_INVALID"


@dataclass(frozen=True)
class ErrorDetails:
    """What an error body says: ``message``; ``status`` (``INVALID_ARGUMENT``, ...);
    ``code`` (the HTTP status it stands for); ``reason`` (the ``ErrorInfo`` reason, e.g.
    ``API_KEY_INVALID``); ``retry_after`` (seconds, from ``RetryInfo.retryDelay``)."""

    message: str
    status: str | None = None
    code: int | None = None
    reason: str | None = None
    retry_after: float | None = None

    @property
    def key_refused(self) -> bool:
        """Google refused the API key (a 400 that is an authentication failure)."""
        return self.reason == KEY_INVALID

    @property
    def request_invalid(self) -> bool:
        """Google says the request itself is invalid: trying elsewhere will not help."""
        return self.status == "INVALID_ARGUMENT" and not self.key_refused

    def as_triple(self) -> tuple[str, str | None, str | None]:
        """``(message, type, code)`` as the core transport's ``parse_error`` returns it: the
        type is the status, the code the ``ErrorInfo`` reason, else the numeric code."""
        code = self.reason or (str(self.code) if self.code is not None else None)
        return self.message, self.status, code


def _duration(value: Any) -> float | None:
    match = _DURATION.match(value) if isinstance(value, str) else None
    return float(match.group(1)) if match else None


def error_details(payload: Any) -> ErrorDetails | None:
    """The details of ``{"error": {...}}``, or ``None`` when ``payload`` is not one."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if error is None or not isinstance(error, Mapping):
        return None
    message = error.get("message")
    status = error.get("status")
    code = error.get("code")
    reason = retry_after = None
    details = error.get("details")
    for item in details if isinstance(details, list) else ():
        if not isinstance(item, Mapping):
            continue
        if item.get("@type") == _ERROR_INFO and isinstance(item.get("reason"), str) and reason is None:
            reason = item["reason"]
        elif item.get("@type") == _RETRY_INFO and retry_after is None:
            retry_after = _duration(item.get("retryDelay"))
    return ErrorDetails(
        message=" ".join(message.split()) if isinstance(message, str) and message.strip() else "(no message)",
        status=status if isinstance(status, str) and status else None,
        code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        reason=reason,
        retry_after=retry_after,
    )


def _details_of(body: bytes) -> ErrorDetails | None:
    try:
        return error_details(json.loads(body))
    except ValueError:
        return None


def parse_error_body(body: bytes) -> tuple[str, str | None, str | None] | None:
    """The core transport's ``parse_error`` callback: ``(message, status, code)``."""
    details = _details_of(body)
    return details.as_triple() if details else None


class ErrorRecorder:
    """A ``parse_error`` callback that also keeps what it read (:attr:`details`), so the
    provider can act on what the transport's 3-tuple cannot carry: the ``ErrorInfo``
    reason of a refused key and the ``RetryInfo`` delay of a 429. One per request."""

    def __init__(self) -> None:
        self.details: ErrorDetails | None = None

    def __call__(self, body: bytes) -> tuple[str, str | None, str | None] | None:
        self.details = _details_of(body)
        return self.details.as_triple() if self.details else None


class ContentFiltered(EmptyResponse):
    """Gemini answered with neither text nor a function call because a filter stopped it:
    the prompt was blocked (``promptFeedback.blockReason``, no candidates) or the reply was
    (a ``finishReason`` such as ``SAFETY`` before any content). ``reason`` is Gemini's own
    word for it; ``finish_reason`` is ``"content_filter"``. An :class:`EmptyResponse`, so
    the router may try another provider."""

    finish_reason = "content_filter"

    def __init__(self, message: str, *, provider: str | None = None, reason: str = "") -> None:
        self.reason = reason
        super().__init__(message, provider=provider)


class MissingKey(ProviderError):
    """No API key for this call: nothing was sent. Set ``GEMINI_API_KEY`` (or
    ``GOOGLE_API_KEY``), or pass ``api_key=``."""
