"""A loopback server speaking the OpenAI chat-completions protocol, for tests and demos.

Built on :class:`provider_core.testing.protocol_server.ProtocolServer` (real sockets, real HTTP):
``GET /v1/models`` lists the configured models; ``POST /v1/chat/completions`` answers
with the next scripted :class:`~provider_core.testing.server.Reply` queued with
:meth:`OpenAIServer.enqueue`, else by echoing (as server-sent events when the request
asks for ``stream: true``, else as one JSON reply): the last user message; or, when the
request gives ``tools`` and ends with a user message, a call to the first tool with
``{"query": <that message>}``; or, after a tool result, ``"The tool said: <result>"``.
Like OpenAI, it reports usage in every JSON reply and, when asked with
``stream_options.include_usage``, in a last stream chunk with ``choices: []`` (counts:
about four characters a token). The helpers below build replies: event streams with any
line ending and any byte split, tool calls, usage, OpenAI error bodies, mid-stream errors.

::

    with OpenAIServer(models=["demo"]) as server:
        server.enqueue(stream_reply(["Hel", "lo"], split=1))   # one byte per HTTP chunk
        ...  # OPENAI_BASE_URL=server.url

From a shell (an echo server until interrupted)::

    python -m provider_openai.server --port 8000 --model demo
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from provider_core.events import ToolCall
from provider_core.testing.protocol_server import ProtocolServer, echo_main
from provider_core.testing.server import RecordedRequest, Reply, split_bytes

__all__ = [
    "OpenAIServer",
    "chat_chunk",
    "completion_reply",
    "error_reply",
    "sse",
    "stream_reply",
    "tool_call_chunks",
    "usage_chunk",
]

SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
JSON_HEADERS = {"content-type": "application/json"}


def chat_chunk(text: str | None = None, *, model: str = "demo", finish_reason: str | None = None) -> dict[str, Any]:
    """One ``chat.completion.chunk`` carrying ``text`` as its content delta."""
    delta: dict[str, Any] = {} if text is None else {"content": text}
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def sse(*events: Any, line_ending: str = "\n") -> str:
    """An event stream: each event is a JSON-able value (sent as one ``data:`` line), a
    ``str`` sent as-is as the data (``"[DONE]"``), or a ``(event type, data)`` pair."""
    out = []
    for event in events:
        kind = None
        if isinstance(event, tuple):
            kind, event = event
        data = event if isinstance(event, str) else json.dumps(event, ensure_ascii=False)
        lines = [f"event: {kind}"] if kind else []
        lines += [f"data: {line}" for line in data.split("\n")]
        out.append(line_ending.join(lines) + line_ending + line_ending)
    return "".join(out)


def tool_call_chunks(calls: Sequence[ToolCall], *, model: str = "demo", pieces: int = 3) -> list[dict[str, Any]]:
    """The chunks of streamed tool calls as OpenAI sends them: a call's first delta with
    ``index``, ``id``, ``type`` and ``function.name`` (empty arguments), then its arguments
    in ``pieces`` fragments carrying only ``index`` and ``function.arguments``."""
    chunks = []
    for index, call in enumerate(calls):
        first = {"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        chunks.append(_delta_chunk({"role": "assistant", "content": None, "tool_calls": [first]}, model))
        size = max(1, -(-len(call.arguments) // pieces))
        for at in range(0, len(call.arguments), size):
            fragment = {"index": index, "function": {"arguments": call.arguments[at : at + size]}}
            chunks.append(_delta_chunk({"tool_calls": [fragment]}, model))
    return chunks


def _delta_chunk(delta: dict[str, Any], model: str) -> dict[str, Any]:
    return {**chat_chunk(model=model), "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}


def usage_chunk(usage: dict[str, int], *, model: str = "demo") -> dict[str, Any]:
    """The last chunk of a stream asked for ``include_usage``: no choices, the counts."""
    return {**chat_chunk(model=model), "choices": [], "usage": usage}


def stream_reply(
    pieces: Iterable[str],
    *,
    model: str = "demo",
    line_ending: str = "\n",
    split: int | None = None,
    done: bool = True,
    finish_reason: str | None = "stop",
    role_first: bool = True,
    tool_calls: Sequence[ToolCall] = (),
    usage: dict[str, int] | None = None,
    **options: Any,
) -> Reply:
    """A streamed chat reply: a role chunk, one chunk per piece, the ``tool_calls`` (see
    :func:`tool_call_chunks`), a final chunk with ``finish_reason`` (``None``: left out;
    ``"tool_calls"`` when calls are given and it is left at ``"stop"``), a ``usage`` chunk
    when given, then ``[DONE]`` unless ``done=False``. The body is cut every ``split``
    bytes (one HTTP chunk each), wherever that falls."""
    events: list[Any] = []
    if role_first:
        events.append({**chat_chunk(model=model), "choices": [{"index": 0, "delta": {"role": "assistant"}}]})
    events += [chat_chunk(p, model=model) for p in pieces]
    events += tool_call_chunks(tool_calls, model=model)
    if finish_reason is not None:
        reason = "tool_calls" if tool_calls and finish_reason == "stop" else finish_reason
        events.append(chat_chunk(model=model, finish_reason=reason))
    if usage is not None:
        events.append(usage_chunk(usage, model=model))
    if done:
        events.append("[DONE]")
    body = sse(*events, line_ending=line_ending).encode("utf-8")
    return Reply(200, body=split_bytes(body, split), headers={**SSE_HEADERS, **options.pop("headers", {})}, **options)


def completion_reply(
    text: str | None,
    *,
    model: str = "demo",
    tool_calls: Sequence[ToolCall] = (),
    usage: dict[str, int] | None = None,
    finish_reason: str | None = None,
    **options: Any,
) -> Reply:
    """A non-streamed ``chat.completion`` reply carrying ``text`` (``None``: ``content:
    null``), the ``tool_calls`` and ``usage`` given; ``finish_reason`` defaults to
    ``"tool_calls"`` with calls, else ``"stop"``."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = [call.to_openai() for call in tool_calls]
    payload: dict[str, Any] = {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish_reason or ("tool_calls" if tool_calls else "stop")}
        ],
    }
    if usage is not None:
        payload["usage"] = usage
    return Reply(200, body=json.dumps(payload), headers=JSON_HEADERS, framing="length", **options)


def error_reply(
    status: int,
    message: str,
    error_type: str = "invalid_request_error",
    code: str | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> Reply:
    """An HTTP error with OpenAI's error body ``{"error": {"message", "type", "param", "code"}}``."""
    body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    return Reply(status, body=json.dumps(body, indent=2), headers={**JSON_HEADERS, **(headers or {})}, framing="length")


class OpenAIServer(ProtocolServer):
    """An OpenAI-protocol server on ``127.0.0.1``; :attr:`url` is the base URL with ``/v1``.

    ``models`` are listed by ``GET /v1/models``; ``models_reply`` replaces that answer
    (e.g. an error). ``api_key``, when set, is required as ``Authorization: Bearer``
    (else 401 with an OpenAI error body). Chat requests get the queued replies first,
    then an echo of the last user message. :attr:`chats` lists the chat requests.
    """

    def __init__(
        self,
        models: Sequence[str] = ("demo",),
        *,
        api_key: str | None = None,
        models_reply: Reply | None = None,
        echo_prefix: str = "",
        port: int = 0,
    ) -> None:
        self.models = list(models)
        self.api_key = api_key
        self.models_reply = models_reply
        self.echo_prefix = echo_prefix
        super().__init__(port=port)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: what ``OPENAI_BASE_URL`` / ``base_url`` takes."""
        return self.server.url + "/v1"

    @property
    def chats(self) -> list[RecordedRequest]:
        """The chat-completion requests received, in order."""
        return [r for r in self.server.requests if r.path.endswith("/chat/completions")]

    def handle(self, request: RecordedRequest) -> Reply:
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return error_reply(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        path = request.path.split("?", 1)[0]
        if request.method == "GET" and path == "/v1/models":
            if self.models_reply is not None:
                return self.models_reply
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "loopback"} for m in self.models]
            return Reply(200, body=json.dumps({"object": "list", "data": data}), headers=JSON_HEADERS, framing="length")
        if request.method == "POST" and path == "/v1/chat/completions":
            queued = self.next_queued()
            return queued if queued is not None else self._echo(request)
        return error_reply(404, f"no route for {request.method} {path}", "not_found_error")

    def _echo(self, request: RecordedRequest) -> Reply:
        body = request.json if isinstance(request.json, dict) else {}
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        model = str(body.get("model", "demo"))
        if model not in self.models:
            return error_reply(404, f"The model `{model}` does not exist.", "invalid_request_error", "model_not_found")
        users = [_text(m.get("content")) for m in messages if m.get("role") == "user"]
        text = self.echo_prefix + (users[-1] if users else "")
        calls: list[ToolCall] = []
        last = messages[-1] if messages else {}
        tools = body.get("tools")
        if last.get("role") == "tool":
            text = f"The tool said: {_text(last.get('content'))}"
        elif isinstance(tools, list) and tools and body.get("tool_choice") != "none" and last.get("role") == "user":
            name = str(tools[0].get("function", {}).get("name", "tool"))
            calls = [ToolCall(f"call_{len(self.chats):04d}", name, json.dumps({"query": users[-1]}))]
            text = ""
        prompt = sum(len(_text(m.get("content"))) for m in messages)
        completion = len(text) + sum(len(c.arguments) for c in calls)
        usage = {"prompt_tokens": -(-prompt // 4), "completion_tokens": -(-completion // 4)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if body.get("stream"):
            words = text.split(" ") if text else []
            pieces = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
            options = body.get("stream_options")
            wants_usage = isinstance(options, dict) and options.get("include_usage") is True
            return stream_reply(pieces, model=model, tool_calls=calls, usage=usage if wants_usage else None)
        return completion_reply(text if not calls else None, model=model, tool_calls=calls, usage=usage)


def _text(content: Any) -> str:
    """A message's text: its ``content`` string, or its text parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    """Run an echo server until interrupted (for demos: point OPENAI_BASE_URL at it)."""
    return echo_main(
        argv,
        prog="python -m provider_openai.server",
        what="OpenAI-protocol server",
        make=lambda models, port: OpenAIServer(models or ["demo"], echo_prefix="echo: ", port=port),
    )


if __name__ == "__main__":
    raise SystemExit(main())
