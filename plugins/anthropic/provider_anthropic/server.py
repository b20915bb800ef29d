"""A loopback server speaking Anthropic's Messages API, for tests and demos.

Built on :class:`provider_core.testing.protocol_server.ProtocolServer` (real sockets, real HTTP):

* ``POST /v1/messages`` answers with the next :class:`~provider_core.testing.server.Reply`
  queued with :meth:`AnthropicServer.enqueue`, else by echoing the last user message's text
  (as named server-sent events when the body asks for ``"stream": true``, else as one JSON
  message), after checking the body as Anthropic would (:mod:`.server_checks`; a 400
  ``invalid_request_error`` names the first problem). A request with ``tools`` (and a
  ``tool_choice`` other than ``none``) whose last turn is the user's text is answered with
  a call to the first tool (or the one ``tool_choice`` names), input ``{"query": <that
  text>}``, id ``toolu_loopback_NNNN`` (NNNN counts the messages requests); a last turn
  of tool results is echoed as ``"The tool said: <their text>"``: a whole tool loop;
* ``GET /v1/models`` lists the served models in pages, in the official shape (``data``,
  ``has_more``, ``first_id``, ``last_id``; ``limit``, ``after_id``, ``before_id``);
  ``GET /v1/models/{id}`` returns one;
* any key is accepted, as ``x-api-key`` or ``Authorization: Bearer`` (a request with
  neither gets a 401 ``authentication_error``), and any ``anthropic-version``.

The reply builders (:mod:`.server_replies`) are re-exported here. From a shell (an echo
server until interrupted)::

    python -m provider_anthropic.server --port 8787
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from provider_core.testing.protocol_server import ProtocolServer, echo_main
from provider_core.testing.server import RecordedRequest, Reply

from .models import display_names
from .server_checks import check_body
from .server_replies import (
    JSON_HEADERS,
    SSE_HEADERS,
    ToolScript,
    error_body,
    error_event,
    error_reply,
    message,
    message_reply,
    sse,
    stream_events,
    stream_reply,
)

__all__ = [
    "JSON_HEADERS",
    "SSE_HEADERS",
    "AnthropicServer",
    "ToolScript",
    "error_body",
    "error_event",
    "error_reply",
    "main",
    "message",
    "message_reply",
    "sse",
    "stream_events",
    "stream_reply",
]

#: ``GET /v1/models`` page size when the request gives no ``limit`` (Anthropic's default).
DEFAULT_PAGE = 20


def _json(payload: Any, status: int = 200) -> Reply:
    return Reply(status, body=json.dumps(payload), headers=JSON_HEADERS, framing="length")


class AnthropicServer(ProtocolServer):
    """An Anthropic-protocol server on ``127.0.0.1``; :attr:`url` is what
    ``ANTHROPIC_BASE_URL`` / ``base_url`` takes (no ``/v1``).

    ``models`` (default: the plugin's shipped ids) are served and listed, at most
    ``max_page`` per page (:attr:`models` maps each id to its display name; adding one
    serves it); ``models_reply``, while set, answers ``GET /v1/models`` instead (an error:
    a server still starting); ``api_key``, when set, is the only key accepted (else any key
    is); ``check=False`` turns off the body checks. Messages requests get the queued
    replies first, then an echo. :attr:`messages_requests` lists those requests;
    :attr:`requests` every request.
    """

    def __init__(
        self,
        models: Sequence[str] | None = None,
        *,
        api_key: str | None = None,
        models_reply: Reply | None = None,
        echo_prefix: str = "",
        check: bool = True,
        max_page: int = 1000,
        port: int = 0,
    ) -> None:
        names = display_names()
        self.models = {m: names.get(m, m) for m in (models if models is not None else list(names))}
        self.api_key = api_key
        self.models_reply = models_reply
        self.echo_prefix = echo_prefix
        self.check = check
        self.max_page = max_page
        super().__init__(port=port)

    @property
    def messages_requests(self) -> list[RecordedRequest]:
        """The ``POST /v1/messages`` requests received, in order."""
        return [r for r in self.server.requests if r.method == "POST" and r.path.startswith("/v1/messages")]

    # -- answering ----------------------------------------------------------------------

    def _key(self, request: RecordedRequest) -> str | None:
        key = request.headers.get("x-api-key")
        if key is None:
            scheme, _, value = request.headers.get("authorization", "").partition(" ")
            key = value.strip() if scheme.lower() == "bearer" and value.strip() else None
        return key

    def handle(self, request: RecordedRequest) -> Reply:
        key = self._key(request)
        if key is None or (self.api_key is not None and key != self.api_key):
            return error_reply(401, "authentication_error", "invalid x-api-key")
        parts = urlsplit(request.path)
        path = parts.path.rstrip("/")
        if request.method == "GET" and path == "/v1/models":
            answer = self.models_reply
            return answer if answer is not None else self._models_page(parse_qs(parts.query))
        if request.method == "GET" and path.startswith("/v1/models/"):
            model = unquote(path[len("/v1/models/") :])
            if model not in self.models:
                return error_reply(404, "not_found_error", f"model: {model}")
            return _json(self._model(model))
        if request.method == "POST" and path == "/v1/messages":
            if self.check:
                problem = check_body(request.json)
                if problem:
                    return error_reply(400, "invalid_request_error", problem)
            queued = self.next_queued()
            return queued if queued is not None else self._echo(request.json)
        return error_reply(404, "not_found_error", f"no route for {request.method} {path}")

    def _model(self, model: str) -> dict[str, Any]:
        return {"type": "model", "id": model, "display_name": self.models[model], "created_at": "2026-01-01T00:00:00Z"}

    def _models_page(self, query: dict[str, list[str]]) -> Reply:
        ids = list(self.models)
        try:
            limit = max(1, min(self.max_page, int(query.get("limit", [DEFAULT_PAGE])[0])))
        except ValueError:
            return error_reply(400, "invalid_request_error", "limit: Input should be a valid integer")
        after, before = query.get("after_id", [None])[0], query.get("before_id", [None])[0]
        if after is not None:
            ids = ids[ids.index(after) + 1 :] if after in ids else []
            page, more = ids[:limit], len(ids) > limit
        elif before is not None:
            ids = ids[: ids.index(before)] if before in ids else []
            page, more = ids[-limit:], len(ids) > limit
        else:
            page, more = ids[:limit], len(ids) > limit
        data = [self._model(m) for m in page]
        first, last = (page[0], page[-1]) if page else (None, None)
        return _json({"data": data, "has_more": more, "first_id": first, "last_id": last})

    def _echo(self, body: Any) -> Reply:
        model = body.get("model") if isinstance(body, dict) else None
        if model not in self.models:
            return error_reply(404, "not_found_error", f"model: {model}")
        messages = body.get("messages") or []
        text, answered = _last_user_text(messages)
        prompt = sum(len(json.dumps(m).split()) for m in messages)
        tool = None if answered else _tool_to_call(body)
        if tool is not None:
            call_id = f"toolu_loopback_{len(self.messages_requests):04d}"
            script = [(call_id, tool, [json.dumps({"query": text}, ensure_ascii=False)])]
            if body.get("stream"):
                return stream_reply([], script, usage=(prompt, 12), model=model)
            return message_reply(None, script, usage=(prompt, 12), model=model)
        text = self.echo_prefix + (f"The tool said: {text}" if answered else text)
        words = text.split(" ")
        pieces = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
        pieces = [p for p in pieces if p] or ["(empty)"]
        if body.get("stream"):
            return stream_reply(pieces, usage=(prompt, len(pieces)), model=model)
        return message_reply("".join(pieces), usage=(prompt, len(pieces)), model=model)


def _tool_to_call(body: dict[str, Any]) -> str | None:
    """The tool the echo calls: the one ``tool_choice`` names, else the first; ``None``
    without tools or with ``tool_choice`` ``none``."""
    tools = body.get("tools")
    choice = body.get("tool_choice") or {}
    if not isinstance(tools, list) or not tools or choice.get("type") == "none":
        return None
    if choice.get("type") == "tool":
        return str(choice.get("name"))
    return str(tools[0].get("name", "tool"))


def _last_user_text(messages: list[Any]) -> tuple[str, bool]:
    """The text of the last user turn, and whether it answers tool calls: its text blocks
    when it has any, else its tool results' text."""
    for turn in reversed(messages):
        if not isinstance(turn, dict) or turn.get("role") != "user":
            continue
        content = turn.get("content")
        if isinstance(content, str):
            return content, False
        texts = [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]
        if texts:
            return "".join(texts), False
        for block in content:
            inner = block.get("content") if isinstance(block, dict) else None
            if isinstance(inner, list):  # text blocks
                inner = "".join(b.get("text", "") for b in inner if isinstance(b, dict))
            texts.append(inner if isinstance(inner, str) else "")
        return "".join(texts), True
    return "", False


def main(argv: Sequence[str] | None = None) -> int:
    """Run an echo server until interrupted (for demos: point ANTHROPIC_BASE_URL at it)."""
    return echo_main(
        argv,
        prog="python -m provider_anthropic.server",
        what="Anthropic Messages API server",
        make=lambda models, port: AnthropicServer(models, echo_prefix="echo: ", port=port),
    )


if __name__ == "__main__":
    raise SystemExit(main())
