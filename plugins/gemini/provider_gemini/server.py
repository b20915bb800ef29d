"""A loopback server speaking the Gemini API, for tests and demos.

Built on :class:`provider_core.testing.protocol_server.ProtocolServer` (real sockets, real HTTP).
It serves the same routes under ``/v1beta`` and ``/v1``:

* ``GET /models`` (paged with ``pageSize`` / ``pageToken`` / ``nextPageToken``) and
  ``GET /models/{model}``;
* ``POST /models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``: the next
  reply queued with :meth:`GeminiServer.enqueue`, else an echo (word by word as SSE frames
  when streamed, usage at about four characters a token): the last user message's text;
  or, when the request declares functions and ends with a user's text, a call to the first
  function with ``{"query": <that text>}`` (with a thought signature, no id: Google's API
  sends none); or, after a function result, ``"The tool said: <result>"``
  (:func:`echo_parts`).

Any key is accepted, as ``x-goog-api-key``, ``?key=`` or ``Authorization: Bearer``; none at
all is answered 403 as Google does, and with ``api_key=`` set a different key is answered
400 ``API_KEY_INVALID``. A request body the API would refuse is answered 400
``INVALID_ARGUMENT`` (:mod:`provider_gemini.server_checks`). Reply builders (streams split
anywhere, function calls, usage, each finish reason, errors and faults) are in
:mod:`provider_gemini.server_replies` and importable from here. From a shell::

    python -m provider_gemini.server --port 8765
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from provider_core.testing.protocol_server import ProtocolServer, echo_main
from provider_core.testing.server import RecordedRequest, Reply

from .catalog import MODELS
from .server_checks import check_request
from .server_replies import (
    JSON_HEADERS,
    error_body,
    error_frame,
    error_reply,
    frames_reply,
    function_call_part,
    generate_reply,
    key_invalid_reply,
    rate_limited_reply,
    response,
    sse,
    stream_reply,
    text_part,
    thought_part,
    unavailable_reply,
    usage_metadata,
)

__all__ = [
    "GeminiServer",
    "error_body",
    "error_frame",
    "echo_parts",
    "error_reply",
    "frames_reply",
    "function_call_part",
    "generate_reply",
    "key_invalid_reply",
    "main",
    "rate_limited_reply",
    "request_key",
    "response",
    "sse",
    "stream_reply",
    "text_part",
    "thought_part",
    "unavailable_reply",
    "usage_metadata",
]

_GENERATE = ("generateContent", "streamGenerateContent")
_UNREGISTERED = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)


def request_key(request: RecordedRequest) -> str | None:
    """The API key a request carries: ``x-goog-api-key``, ``?key=`` or a bearer token."""
    if request.headers.get("x-goog-api-key"):
        return request.headers["x-goog-api-key"]
    query = parse_qs(urlsplit(request.path).query)
    if query.get("key"):
        return query["key"][0]
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class GeminiServer(ProtocolServer):
    """A Gemini-API server on ``127.0.0.1``; :attr:`url` is its base URL (no version).

    ``models`` are listed (``page_size`` per page unless the client asks for fewer) and
    accepted by the echo (:attr:`models` is a list: appending serves one more);
    ``models_reply``, while set, answers the listing instead (an error: a server still
    starting); ``api_key``, when set, is the only key accepted. Queued replies
    answer generate requests only (listings are never consumed by them).
    """

    def __init__(
        self,
        models: Sequence[str] = tuple(m.id for m in MODELS),
        *,
        api_key: str | None = None,
        models_reply: Reply | None = None,
        page_size: int = 50,
        echo_prefix: str = "",
        port: int = 0,
        idle_timeout: float = 30.0,
    ) -> None:
        self.models = list(models)
        self.api_key = api_key
        self.models_reply = models_reply
        self.page_size = page_size
        self.echo_prefix = echo_prefix
        super().__init__(validator=self._refusal, port=port, idle_timeout=idle_timeout)

    @property
    def generations(self) -> list[RecordedRequest]:
        """The ``generateContent`` / ``streamGenerateContent`` requests, in order."""
        return [r for r in self.server.requests if r.method == "POST" and "Content" in r.path]

    def _refusal(self, request: RecordedRequest) -> Reply | None:
        """What the API answers before looking at the model (the loopback server's
        validator, so replies queued on :attr:`server` itself are refused alike): no key
        (403), a wrong key (400 ``API_KEY_INVALID``), an unknown API version (404), a body
        it would refuse (400 ``INVALID_ARGUMENT``)."""
        key = request_key(request)
        if key is None:
            return error_reply(403, _UNREGISTERED)
        if self.api_key is not None and key != self.api_key:
            return key_invalid_reply()
        path = urlsplit(request.path).path
        version, _, route = path.lstrip("/").partition("/")
        if version not in ("v1beta", "v1"):
            return error_reply(404, f"The requested URL {path} was not found on this server.")
        if request.method == "POST" and route.endswith((":generateContent", ":streamGenerateContent")):
            problem = check_request(request.json)
            if problem:
                return error_reply(400, problem)
        return None

    def handle(self, request: RecordedRequest) -> Reply:
        parts = urlsplit(request.path)
        route = parts.path.lstrip("/").partition("/")[2]
        query = parse_qs(parts.query)
        if request.method == "GET" and route == "models":
            answer = self.models_reply
            return answer if answer is not None else self._list(query)
        if request.method == "GET" and route.startswith("models/") and ":" not in route:
            return self._model(route.removeprefix("models/"))
        model, _, method = route.removeprefix("models/").partition(":")
        if request.method == "POST" and route.startswith("models/") and method in _GENERATE:
            queued = self.next_queued()
            if queued is not None:
                return queued
            return self._echo(model, request.json, method == "streamGenerateContent", query.get("alt") == ["sse"])
        return error_reply(404, f"no route for {request.method} {parts.path}")

    def _model_object(self, model: str) -> dict[str, Any]:
        methods = ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]
        return {
            "name": f"models/{model}",
            "version": "001",
            "displayName": model,
            "inputTokenLimit": 1048576,
            "outputTokenLimit": 65536,
            "supportedGenerationMethods": methods,
        }

    def _list(self, query: dict[str, list[str]]) -> Reply:
        size = self.page_size
        if query.get("pageSize", [""])[0].isdigit():
            size = max(1, min(size, int(query["pageSize"][0])))
        token = query.get("pageToken", ["0"])[0]
        start = int(token) if token.isdigit() else 0
        page: dict[str, Any] = {"models": [self._model_object(m) for m in self.models[start : start + size]]}
        if start + size < len(self.models):
            page["nextPageToken"] = str(start + size)
        return Reply(200, body=json.dumps(page), headers=JSON_HEADERS, framing="length")

    def _model(self, model: str) -> Reply:
        if model not in self.models:
            return error_reply(404, f"models/{model} is not found for API version v1beta")
        return Reply(200, body=json.dumps(self._model_object(model)), headers=JSON_HEADERS, framing="length")

    def _echo(self, model: str, body: dict[str, Any], stream: bool, sse_framing: bool) -> Reply:
        if model not in self.models:
            message = f"models/{model} is not found for API version v1beta, or is not supported for generateContent."
            return error_reply(404, message)
        parts = echo_parts(body, self.echo_prefix, len(self.generations))
        texts = [p["text"] for p in parts if "text" in p]
        calls = [p for p in parts if "functionCall" in p]
        prompt = sum(len(p.get("text", "")) for c in body["contents"] for p in c["parts"])
        completion = sum(map(len, texts)) + sum(len(json.dumps(p["functionCall"]["args"])) for p in calls)
        usage = usage_metadata(-(-prompt // 4), -(-completion // 4))
        if not stream:
            return generate_reply(response(parts, finish_reason="STOP", usage=usage))
        words = "".join(texts).split(" ") if texts else []
        pieces = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
        if sse_framing:
            return stream_reply(pieces, calls=calls, usage=usage)
        frames = [response([text_part(p)]) for p in pieces] + [response([c]) for c in calls]
        frames.append(response([], finish_reason="STOP", usage=usage))
        return generate_reply(frames)  # without alt=sse the API streams one JSON array


def echo_parts(body: dict[str, Any], prefix: str = "", serial: int = 0) -> list[dict[str, Any]]:
    """The parts of the echo's answer to a (checked) request ``body``: after a function
    result (the last turn's last part is a ``functionResponse``), the text ``"The tool said:
    <result>"``; when the request declares functions (and ``toolConfig`` does not say
    ``NONE``) and ends with a user's text, a call to the first function with ``{"query":
    <that text>}``, carrying a thought signature as Gemini 3 does (``serial`` makes it
    unique); else ``prefix`` + the last user turn's text."""
    contents = body["contents"]
    last = contents[-1]["parts"][-1] if contents else {}
    if "functionResponse" in last:
        result = last["functionResponse"]["response"]
        said = result["content"] if set(result) == {"content"} and isinstance(result["content"], str) else None
        return [text_part(f"The tool said: {said if said is not None else json.dumps(result, ensure_ascii=False)}")]
    users = [c for c in contents if c.get("role", "user") == "user"]
    text = "".join(p["text"] for p in users[-1]["parts"] if isinstance(p.get("text"), str)) if users else ""
    declared = [d for tool in body.get("tools", []) for d in tool.get("functionDeclarations", [])]
    mode = body.get("toolConfig", {}).get("functionCallingConfig", {}).get("mode", "AUTO")
    if declared and mode != "NONE" and "text" in last and contents[-1].get("role", "user") == "user":
        signature = base64.b64encode(f"loopback-signature-{serial}".encode()).decode()
        return [function_call_part(declared[0]["name"], {"query": text}, signature=signature)]
    return [text_part(prefix + text)]


def main(argv: Sequence[str] | None = None) -> int:
    """Run an echo server until interrupted (for demos: point GEMINI_BASE_URL at it)."""
    return echo_main(
        argv,
        prog="python -m provider_gemini.server",
        what="Gemini-API server",
        make=lambda models, port: GeminiServer(models or [m.id for m in MODELS], echo_prefix="echo: ", port=port),
    )


if __name__ == "__main__":
    raise SystemExit(main())
