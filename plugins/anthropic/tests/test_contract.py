"""The plugin-author kit's contract suite, run over the provider with replies in Anthropic's
protocol, from a server that checks every request body as Anthropic does.

The suite of today's core reads text chunks only (its ``chunk-str`` rule predates the
version-2 events), so it runs over :class:`TextOnly`, which passes the provider's text
through and leaves out its ``ToolCallDelta`` / ``Usage`` / ``FinishReason`` events. Those
events are tested in ``test_provider.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from provider_anthropic import Anthropic
from provider_anthropic.server import error_reply, message_reply, stream_reply
from provider_anthropic.server_checks import check_body

from provider_core.testing import ProviderContract
from provider_core.testing.server import LoopbackServer, RecordedRequest, Reply


def _text_only(items: Iterator[Any]) -> Iterator[str]:
    try:
        for item in items:
            if isinstance(item, str):
                yield item
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()


class TextOnly(Anthropic):
    """:class:`Anthropic`, yielding its text only."""

    name = "AnthropicTextOnly"
    working = True
    status_reason = None

    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[str]:
        return _text_only(super().create_completion(model, messages, stream, **kwargs))


def _checked(request: RecordedRequest) -> Reply | None:
    if request.method == "POST" and request.path.startswith("/v1/messages"):
        problem = check_body(request.json)
        if problem:
            return error_reply(400, "invalid_request_error", problem)
    return None


class TestAnthropicContract(ProviderContract):
    provider = TextOnly

    def make_server(self) -> LoopbackServer:
        return LoopbackServer(validator=_checked, idle_timeout=10)

    def provider_kwargs(self, server: LoopbackServer) -> dict[str, Any]:
        return {"base_url": server.url, "api_key": "sk-ant-contract"}

    def reply(self, text: str, *, stream: bool) -> Reply:
        if not stream:
            return message_reply(text)
        pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
        return stream_reply(pieces, split=3)  # every multi-byte character can land split

    def sent_model(self, request: RecordedRequest) -> str | None:
        body = request.json
        return body.get("model") if isinstance(body, dict) else None
