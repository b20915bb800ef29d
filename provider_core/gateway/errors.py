"""Errors in the OpenAI error shape, and the mapping from provider-core's hierarchy to HTTP.

Every error body is ``{"error": {"message", "type", "param", "code"}}`` (OpenAI's shape),
sometimes with extra keys (``attempts`` for a 503). The status codes:

=============================  ======  ==========================
error                          status  ``code``
=============================  ======  ==========================
bad request field              400     ``invalid_request``
InvalidMessages                400     ``invalid_messages``
ModelNotSupported              404     ``model_not_found``
ProviderNotFound               404     ``provider_not_found``
NoProviderAvailable            503     ``no_provider_available``
ProviderHTTPError 429          429     ``rate_limited``
ProviderHTTPError 400/422      400     ``upstream_rejected``
ProviderHTTPError 413          413     ``upstream_rejected``
ProviderHTTPError 408/504      504     ``upstream_timeout``
ProviderHTTPError other        502     ``upstream_error``
ProviderTimeout                504     ``upstream_timeout``
ProviderConnectionError        502     ``upstream_unreachable``
EmptyResponse                  502     ``empty_response``
StreamInterrupted              502     ``stream_interrupted``
other ProviderError            502     ``provider_error``
anything else                  500     ``internal_error`` (details only in the log)
=============================  ======  ==========================

An upstream 401/403 becomes 502, not 401: the caller's own key was fine, the provider's was
not, and a 401 would send the caller looking for the wrong problem. Messages come from the
exceptions, which by contract carry no secret.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from .. import errors as core

__all__ = ["ApiError", "RequestError", "api_error_from"]


@dataclass(frozen=True)
class ApiError:
    """One HTTP error answer: status, OpenAI error fields, extra headers and body keys."""

    status: int
    message: str
    type: str = "invalid_request_error"
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        error = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        error.update(self.extra)
        return {"error": error}

    def json_bytes(self) -> bytes:
        return json.dumps(self.body(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class RequestError(Exception):
    """A request the gateway refuses before calling the core (400 unless ``status`` says)."""

    def __init__(self, message: str, *, param: str | None = None, status: int = 400, code: str = "invalid_request"):
        super().__init__(message)
        self.param = param
        self.status = status
        self.code = code


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _http_error(exc: Any) -> ApiError:
    status = exc.status_code
    message = _one_line(exc)
    if status == 429:
        headers = {}
        if exc.retry_after is not None and math.isfinite(exc.retry_after) and exc.retry_after >= 0:
            headers["retry-after"] = str(math.ceil(exc.retry_after))
        return ApiError(429, message, "rate_limit_error", "rate_limited", headers=headers)
    if status in (400, 422):
        return ApiError(400, message, "invalid_request_error", "upstream_rejected")
    if status == 413:
        return ApiError(413, message, "invalid_request_error", "upstream_rejected")
    if status in (408, 504):
        return ApiError(504, message, "upstream_error", "upstream_timeout")
    return ApiError(502, message, "upstream_error", "upstream_error")


def api_error_from(exc: BaseException) -> ApiError:
    """The :class:`ApiError` answering ``exc`` (see the table in the module docstring)."""
    message = _one_line(exc)
    if isinstance(exc, RequestError):
        return ApiError(exc.status, message, "invalid_request_error", exc.code, exc.param)
    if isinstance(exc, core.InvalidMessages):
        param = exc.errors[0][0] if exc.errors else None
        return ApiError(400, message, "invalid_request_error", "invalid_messages", param)
    if isinstance(exc, core.ModelNotSupported):
        extra = {"suggestions": exc.suggestions} if exc.suggestions else {}
        return ApiError(404, message, "invalid_request_error", "model_not_found", "model", extra=extra)
    if isinstance(exc, core.ProviderNotFound):
        return ApiError(404, message, "invalid_request_error", "provider_not_found", "provider")
    if isinstance(exc, core.NoProviderAvailable):
        attempts = [{"provider": a.provider, "reason": a.reason} for a in exc.attempts]
        return ApiError(503, message, "service_unavailable", "no_provider_available", extra={"attempts": attempts})
    if isinstance(exc, core.ProviderError):
        if isinstance(exc, core.ProviderHTTPError):
            return _http_error(exc)
        if isinstance(exc, core.ProviderTimeout):
            return ApiError(504, message, "upstream_error", "upstream_timeout")
        if isinstance(exc, core.ProviderConnectionError):
            return ApiError(502, message, "upstream_error", "upstream_unreachable")
        if isinstance(exc, core.EmptyResponse):
            return ApiError(502, message, "upstream_error", "empty_response")
        if isinstance(exc, core.StreamInterrupted):
            extra = {"received_chars": exc.received_chars}
            return ApiError(502, message, "upstream_error", "stream_interrupted", extra=extra)
        return ApiError(502, message, "upstream_error", "provider_error")
    return ApiError(
        500, "internal error in the gateway (the server log has the details)", "server_error", "internal_error"
    )
