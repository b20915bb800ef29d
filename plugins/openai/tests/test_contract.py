"""The plugin-author kit's contract suite, run over an endpoint class of this plugin,
with replies in the OpenAI protocol (server-sent events, JSON)."""

from __future__ import annotations

from typing import Any

from provider_openai.config import EndpointConfig
from provider_openai.models import ModelList
from provider_openai.provider import make_provider
from provider_openai.server import completion_reply, stream_reply

from provider_core.events import ToolCall
from provider_core.testing import ProviderContract
from provider_core.testing.server import LoopbackServer, RecordedRequest, Reply

Endpoint = make_provider(
    EndpointConfig(name="contract", base_url="http://127.0.0.1:9/v1", source="test"),
    ModelList({"demo": "Demo", "gpt-4o-mini": "GPT-4o mini"}, "config"),
)


class TestOpenAIEndpointContract(ProviderContract):
    provider = Endpoint

    def provider_kwargs(self, server: LoopbackServer) -> dict[str, Any]:
        return {"base_url": server.url + "/v1"}

    def reply(self, text: str, *, stream: bool) -> Reply:
        if not stream:
            return completion_reply(text)
        pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
        return stream_reply(pieces, split=3)  # every multi-byte character can land split

    def tool_call_reply(self, call: ToolCall, *, stream: bool) -> Reply:
        if stream:
            return stream_reply([], tool_calls=[call], split=7)
        return completion_reply(None, tool_calls=[call])

    def sent_model(self, request: RecordedRequest) -> str | None:
        body = request.json
        return body.get("model") if isinstance(body, dict) else None


class TestEndpointWithADefaultModelContract(TestOpenAIEndpointContract):
    provider = make_provider(
        EndpointConfig(name="contract-default", base_url="http://127.0.0.1:9/v1", default_model="demo", source="t"),
        ModelList({"demo": "Demo"}, "config"),
    )
