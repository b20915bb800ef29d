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
RateLimitExceeded (ours)       429     ``rate_limit_exceeded`` (``Retry-After``, 1-60 s)
NoProviderAvailable            503     ``no_provider_available`` (``Retry-After``: the earliest
                                       reopening of a skipped candidate's circuit, when known)
  ... every provider lacking   400     ``unsupported_request``
  what the request needs
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
not, and a 401 would send the caller looking for the wrong problem.

What a remote client is told (:func:`public_message`) names the provider and the kind of
fault, never the upstream's URL, a plugin's own exception text or a status reason's details:
those go to the gateway's log (redacted, see :mod:`provider_core.secrets`). An upstream's
own words reach the client only where they are about the client's request (HTTP
400/413/422) or say when to come back; they pass the one redaction step first. Hints speak
HTTP (:data:`HTTP_HINT`): the request's ``provider`` field and ``serve
--include-not-working``, never the CLI's options.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from .. import errors as core
from ..options import LACKS
from ..routing import HintWording, override_hint
from ..secrets import redact_secrets

__all__ = [
    "HTTP_HINT",
    "ApiError",
    "RateLimitExceeded",
    "RequestError",
    "api_error_from",
    "log_message",
    "logged_api_error",
    "public_message",
]

#: How the gateway tells a client to call a provider routing skipped as not working.
HTTP_HINT = HintWording(
    'name it in the request ("provider": "{name}")',
    "start the gateway with 'provider-core serve --include-not-working'",
)


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
        # ASCII: a lone surrogate from a request (legal JSON) cannot break the encoding
        return json.dumps(self.body(), ensure_ascii=True, separators=(",", ":")).encode("ascii")


class RequestError(Exception):
    """A request the gateway refuses before calling the core (400 unless ``status`` says)."""

    def __init__(self, message: str, *, param: str | None = None, status: int = 400, code: str = "invalid_request"):
        super().__init__(message)
        self.param = param
        self.status = status
        self.code = code


class RateLimitExceeded(Exception):
    """A key (or, without keys, every caller together) is over its requests (``kind``
    ``"requests"``) or tokens (``"tokens"``) per minute; ``retry_after``: seconds until a
    request would pass. The key itself is never named, only its ``key_id``."""

    def __init__(self, kind: str, limit: int, retry_after: float, key_id: str) -> None:
        self.kind = kind
        self.limit = limit
        self.retry_after = retry_after
        self.key_id = key_id
        per = "requests" if kind == "requests" else "tokens"
        super().__init__(
            f"rate limit reached for {per} per minute (limit {limit:,}) for {key_id}; "
            f"retry in {retry_header(retry_after)} s"
        )


def retry_header(seconds: float) -> str:
    """``Retry-After`` in whole seconds, 1 to 60."""
    value = math.ceil(seconds) if math.isfinite(seconds) else 60
    return str(min(60, max(1, value)))


def log_message(exc: BaseException) -> str:
    """The whole story of ``exc`` on one line, for the gateway's log (redacted)."""
    return redact_secrets(" ".join(str(exc).split()))


#: What a network fault is called, by :attr:`ProviderConnectionError.kind`.
_KINDS = {
    "refused": "connection refused",
    "dns": "host name could not be resolved",
    "connect-timeout": "timed out connecting",
    "read-timeout": "timed out waiting for data",
    "reset": "connection reset",
    "proxy": "proxy failed",
    "ssl": "TLS failed",
}


def _short(reason: str) -> str:
    """A reason without its details: what stands before `` (`` (the convention of
    ``provider_status`` hooks: ``circuit open until 12:03:04 (3 failures; last: ...)``)."""
    return redact_secrets(reason.split(" (", 1)[0].strip()) or "unavailable"


def _fault(exc: BaseException) -> str:
    """The kind of fault ``exc`` is, in a few words fit for a remote client."""
    if isinstance(exc, core.ProviderHTTPError):
        status = exc.status_code
        if status in (400, 413, 422) and exc.body_excerpt:
            return f"the upstream refused the request (HTTP {status}): {redact_secrets(exc.body_excerpt)}"
        if status in (401, 403):
            return f"the upstream refused the provider's credentials (HTTP {status})"
        if status == 429:
            return "rate limited by the upstream (HTTP 429)"
        return f"the upstream answered HTTP {status}"
    if isinstance(exc, core.ProviderTimeout):
        return _KINDS.get(exc.kind, "timed out")
    if isinstance(exc, core.ProviderConnectionError):
        return f"upstream unreachable: {_KINDS.get(exc.kind, 'connection failed')}"
    if isinstance(exc, core.EmptyResponse):
        return "the upstream answered with no text"
    if isinstance(exc, core.StreamInterrupted):
        cause = f": {_KINDS[exc.kind]}" if exc.kind in _KINDS else ""
        return f"the reply broke off after {exc.received_chars:,} characters{cause}"
    if isinstance(exc, core.UpstreamError):
        return "the upstream reported an error" + (f" ({exc.error_type})" if exc.error_type else "")
    if isinstance(exc, core.ProviderContractError):
        return "the provider broke the provider contract"
    return "the provider failed"


def public_message(exc: BaseException) -> str:
    """What a remote client is told about ``exc``: the provider and the kind of fault."""
    if isinstance(exc, core.ModelNotSupported) and exc.model == "" and exc.provider is None:
        return "no model given: name one ('GET /v1/models' lists them)"
    if isinstance(
        exc, (RequestError, RateLimitExceeded, core.InvalidMessages, core.ModelNotSupported, core.ProviderNotFound)
    ):
        return log_message(exc)  # about the client's own request, in the client's own words
    if isinstance(exc, core.NoProviderAvailable):
        reasons = "; ".join(f"{a.provider}: {_attempt_reason(a)}" for a in exc.attempts)
        hint = override_hint(exc.attempts, HTTP_HINT)
        return (
            f"no provider could serve {exc.model!r}"
            + (f": {reasons}" if reasons else "")
            + (f". {hint}" if hint else "")
        )
    if isinstance(exc, core.ProviderError):
        return f"{exc.provider}: {_fault(exc)}" if exc.provider else _fault(exc)
    return "internal error in the gateway (the server log has the details)"


def _attempt(attempt: core.Attempt) -> dict[str, Any]:
    """One candidate in an error body: the provider, the model it was asked for when that
    is an alias's target, why it was skipped or failed, and when it may be tried again."""
    data: dict[str, Any] = {"provider": attempt.provider, "reason": _attempt_reason(attempt)}
    if attempt.model is not None:
        data["model"] = attempt.model
    if attempt.retry_after is not None:
        data["retry_after"] = math.ceil(attempt.retry_after)
    return data


def _attempt_reason(attempt: core.Attempt) -> str:
    return _fault(attempt.error) if attempt.error is not None else _short(attempt.reason)


def _http_error(exc: Any, message: str) -> ApiError:
    status = exc.status_code
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
    """The :class:`ApiError` answering ``exc`` (see the table in the module docstring);
    its message is :func:`public_message`."""
    message = public_message(exc)
    if isinstance(exc, RequestError):
        return ApiError(exc.status, message, "invalid_request_error", exc.code, exc.param)
    if isinstance(exc, RateLimitExceeded):  # OpenAI's shape: type "requests" or "tokens"
        headers = {"retry-after": retry_header(exc.retry_after)}
        return ApiError(429, message, exc.kind, "rate_limit_exceeded", headers=headers)
    if isinstance(exc, core.InvalidMessages):
        param = exc.errors[0][0] if exc.errors else None
        return ApiError(400, message, "invalid_request_error", "invalid_messages", param)
    if isinstance(exc, core.ModelNotSupported):
        extra = {"suggestions": exc.suggestions} if exc.suggestions else {}
        return ApiError(404, message, "invalid_request_error", "model_not_found", "model", extra=extra)
    if isinstance(exc, core.ProviderNotFound):
        return ApiError(404, message, "invalid_request_error", "provider_not_found", "provider")
    if isinstance(exc, core.NoProviderAvailable):
        attempts = [_attempt(a) for a in exc.attempts]
        if exc.attempts and all(a.error is None and a.reason in LACKS for a in exc.attempts):
            # no provider of the model can do what the request asks (tools, images, JSON):
            # the request must change, waiting will not help
            return ApiError(400, message, "invalid_request_error", "unsupported_request", extra={"attempts": attempts})
        headers = {}
        if exc.retry_after is not None and math.isfinite(exc.retry_after):
            headers["retry-after"] = str(max(1, math.ceil(exc.retry_after)))  # the earliest reopening
        return ApiError(
            503, message, "service_unavailable", "no_provider_available", headers=headers, extra={"attempts": attempts}
        )
    if isinstance(exc, core.ProviderError):
        if isinstance(exc, core.ProviderHTTPError):
            return _http_error(exc, message)
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
    return ApiError(500, message, "server_error", "internal_error")


def logged_api_error(exc: BaseException) -> ApiError:
    """:func:`api_error_from`, the failure written to the gateway's log first: a bug with its
    traceback, a 5xx on one line (redacted), a client's error not at all."""
    error = api_error_from(exc)
    if error.code == "internal_error":
        logging.getLogger("provider_core.gateway").error("request failed", exc_info=exc)
    elif error.status >= 500:
        logging.getLogger("provider_core.gateway").warning("%s: %s", error.code, log_message(exc))
    return error
