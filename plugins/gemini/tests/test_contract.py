"""The plugin-author kit's contract suite, run over the ``Gemini`` provider with replies in
Gemini's protocol (``GenerateContentResponse`` objects, streamed as server-sent events)."""

from __future__ import annotations

import json
from typing import Any

from provider_gemini.provider import configure
from provider_gemini.server import (
    GeminiServer,
    function_call_part,
    generate_reply,
    response,
    stream_reply,
    text_part,
    usage_metadata,
)

from provider_core.events import ToolCall
from provider_core.testing import ProviderContract
from provider_core.testing.contract_base import SERVER_WAIT
from provider_core.testing.server import LoopbackServer, RecordedRequest, Reply

KEY = "contract-key-0b5e"
USAGE = usage_metadata(7, 11)


class TestGeminiContract(ProviderContract):
    provider = configure({"GEMINI_API_KEY": KEY})

    def make_server(self) -> LoopbackServer:
        # the protocol server's own handler: it checks every request body as the API does
        return GeminiServer(idle_timeout=SERVER_WAIT).server

    def provider_kwargs(self, server: LoopbackServer) -> dict[str, Any]:
        return {"base_url": server.url, "api_key": KEY}

    def reply(self, text: str, *, stream: bool) -> Reply:
        if not stream:
            return generate_reply(response([text_part(text)], finish_reason="STOP", usage=USAGE))
        pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
        return stream_reply(pieces, usage=USAGE, split=3)  # every multi-byte character can land split

    def tool_call_reply(self, call: ToolCall, *, stream: bool) -> Reply:
        part = function_call_part(call.name, json.loads(call.arguments))
        if stream:
            return stream_reply([], calls=[part], usage=USAGE, split=7)
        return generate_reply(response([part], finish_reason="STOP", usage=USAGE))

    def sent_model(self, request: RecordedRequest) -> str | None:
        path = request.path.split("?", 1)[0]
        return path.rsplit("/models/", 1)[-1].split(":", 1)[0] if "/models/" in path else None
