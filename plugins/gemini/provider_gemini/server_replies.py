"""Reply builders of the loopback Gemini server: Gemini-shaped replies, streams and faults.

Each builder returns a JSON value or a :class:`~provider_core.testing.server.Reply`; queue
replies with :meth:`provider_gemini.server.GeminiServer.enqueue`. Everything here carries
only fields of the real API, so the official SDK parses it (its models forbid unknown
fields). Import them from :mod:`provider_gemini.server`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from provider_core.testing.server import Reply, split_bytes

__all__ = [
    "JSON_HEADERS",
    "SSE_HEADERS",
    "STATUS_NAMES",
    "error_body",
    "error_frame",
    "error_reply",
    "frames_reply",
    "function_call_part",
    "generate_reply",
    "key_invalid_reply",
    "rate_limited_reply",
    "response",
    "sse",
    "stream_reply",
    "text_part",
    "thought_part",
    "unavailable_reply",
    "usage_metadata",
]

SSE_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache"}
JSON_HEADERS = {"content-type": "application/json; charset=UTF-8"}
#: HTTP status -> Google RPC status name, as the API pairs them.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
DEFAULT_MODEL_VERSION = "gemini-3.8-flash"


def text_part(text: str) -> dict[str, Any]:
    return {"text": text}


def thought_part(text: str) -> dict[str, Any]:
    """A thought summary part (``thought: true``), which clients must not show as text."""
    return {"text": text, "thought": True}


def function_call_part(
    name: str, args: Mapping[str, Any] | None = None, *, call_id: str | None = None, signature: str | None = None
) -> dict[str, Any]:
    """A ``functionCall`` part; ``signature`` (base64) is its ``thoughtSignature``."""
    call: dict[str, Any] = {"name": name, "args": dict(args or {})}
    if call_id is not None:
        call["id"] = call_id
    part: dict[str, Any] = {"functionCall": call}
    if signature is not None:
        part["thoughtSignature"] = signature
    return part


def usage_metadata(prompt: int, candidates: int, thoughts: int | None = None) -> dict[str, int]:
    usage = {"promptTokenCount": prompt, "candidatesTokenCount": candidates}
    if thoughts is not None:
        usage["thoughtsTokenCount"] = thoughts
    usage["totalTokenCount"] = prompt + candidates + (thoughts or 0)
    return usage


def response(
    parts: Iterable[Mapping[str, Any]] = (),
    *,
    finish_reason: str | None = None,
    usage: Mapping[str, int] | None = None,
    block_reason: str | None = None,
    model_version: str = DEFAULT_MODEL_VERSION,
) -> dict[str, Any]:
    """One ``GenerateContentResponse``. With ``block_reason`` it has no candidate and a
    ``promptFeedback`` saying why (a blocked prompt)."""
    payload: dict[str, Any] = {}
    if block_reason is None:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [dict(p) for p in parts]}, "index": 0}
        if finish_reason is not None:
            candidate["finishReason"] = finish_reason
        payload["candidates"] = [candidate]
    else:
        payload["promptFeedback"] = {"blockReason": block_reason}
    if usage is not None:
        payload["usageMetadata"] = dict(usage)
    payload["modelVersion"] = model_version
    payload["responseId"] = "loopback-response"
    return payload


def sse(*frames: Any, line_ending: str = "\r\n") -> str:
    """An event stream of unnamed ``data:`` frames: a JSON value each, or a ``str`` sent as
    the data as it is. No end marker, as Gemini sends none."""
    out = []
    for frame in frames:
        data = frame if isinstance(frame, str) else json.dumps(frame, ensure_ascii=False)
        out.append(line_ending.join(f"data: {line}" for line in data.split("\n")) + line_ending * 2)
    return "".join(out)


def frames_reply(
    frames: Sequence[Any], *, split: int | None = None, line_ending: str = "\r\n", **options: Any
) -> Reply:
    """A 200 event stream of ``frames``, cut every ``split`` bytes (one HTTP chunk each,
    wherever that falls: inside a line, inside a character). ``options`` go to ``Reply``
    (``delay_before``, ``reset_after``, ...)."""
    body = sse(*frames, line_ending=line_ending).encode("utf-8")
    headers = {**SSE_HEADERS, **options.pop("headers", {})}
    return Reply(200, body=split_bytes(body, split), headers=headers, **options)


def stream_reply(
    pieces: Iterable[str],
    *,
    calls: Iterable[Mapping[str, Any]] = (),
    finish_reason: str | None = "STOP",
    usage: Mapping[str, int] | None = None,
    split: int | None = None,
    line_ending: str = "\r\n",
    **options: Any,
) -> Reply:
    """A streamed reply: one frame per text piece, one per function-call part of ``calls``,
    then a frame with ``finish_reason`` and ``usage`` (no finishReason at all when
    ``finish_reason`` is ``None``: a stream cut before its end)."""
    frames = [response([text_part(p)]) for p in pieces]
    frames += [response([call]) for call in calls]
    if finish_reason is not None or usage is not None:
        frames.append(response([], finish_reason=finish_reason, usage=usage))
    return frames_reply(frames, split=split, line_ending=line_ending, **options)


def generate_reply(payload: Any, **options: Any) -> Reply:
    """A non-streamed 200 reply carrying ``payload`` (a ``GenerateContentResponse``) as JSON."""
    headers = {**JSON_HEADERS, **options.pop("headers", {})}
    return Reply(200, body=json.dumps(payload, ensure_ascii=False), headers=headers, framing="length", **options)


def error_body(code: int, message: str, status: str | None = None, details: Sequence[Any] = ()) -> dict[str, Any]:
    """Google's error object: ``{"error": {"code", "message", "status", "details"?}}``."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status or STATUS_NAMES.get(code, "UNKNOWN")}
    if details:
        error["details"] = list(details)
    return {"error": error}


def error_frame(code: int, message: str, status: str | None = None) -> dict[str, Any]:
    """An error object sent as a frame of a 200 stream."""
    return error_body(code, message, status)


def error_reply(
    code: int,
    message: str,
    status: str | None = None,
    *,
    details: Sequence[Any] = (),
    headers: Mapping[str, str] | None = None,
    **options: Any,
) -> Reply:
    """An HTTP error status with Google's error body."""
    body = json.dumps(error_body(code, message, status, details), indent=2)
    return Reply(code, body=body, headers={**JSON_HEADERS, **(headers or {})}, framing="length", **options)


def key_invalid_reply() -> Reply:
    """What Google answers a key it does not accept: HTTP 400, reason ``API_KEY_INVALID``."""
    info = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    }
    return error_reply(400, "API key not valid. Please pass a valid API key.", details=[info])


def rate_limited_reply(retry_after: float | None = None, *, retry_delay: str | None = None) -> Reply:
    """HTTP 429 ``RESOURCE_EXHAUSTED``, with a ``retry-after`` header and/or a ``RetryInfo``
    ``retryDelay`` (e.g. ``"37s"``) in the body."""
    details = []
    if retry_delay is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else None
    message = "You exceeded your current quota, please check your plan and billing details."
    return error_reply(429, message, details=details, headers=headers)


def unavailable_reply(retry_after: float | None = None) -> Reply:
    """HTTP 503 ``UNAVAILABLE``: the model is overloaded."""
    headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else None
    return error_reply(503, "The model is overloaded. Please try again later.", headers=headers)
