"""The plugin-author kit's contract suite, run over the provider with replies in Anthropic's
protocol, from a server that checks every request body as Anthropic does. Every rule runs,
the version-2 ones included (usage-once, finish-last, tool-call-delta, tool-call)."""

from __future__ import annotations

from typing import Any

from provider_anthropic import configured
from provider_anthropic.server import error_reply, message_reply, stream_reply
from provider_anthropic.server_checks import check_body

from provider_core.events import ToolCall
from provider_core.testing import ProviderContract
from provider_core.testing.server import LoopbackServer, RecordedRequest, Reply


def _checked(request: RecordedRequest) -> Reply | None:
    if request.method == "POST" and request.path.startswith("/v1/messages"):
        problem = check_body(request.json)
        if problem:
            return error_reply(400, "invalid_request_error", problem)
    return None


class TestAnthropicContract(ProviderContract):
    provider = configured({"ANTHROPIC_API_KEY": "sk-ant-contract-environment"})

    def make_server(self) -> LoopbackServer:
        return LoopbackServer(validator=_checked, idle_timeout=10)

    def provider_kwargs(self, server: LoopbackServer) -> dict[str, Any]:
        # another base URL: the environment's key is not sent there, so the call gives one
        return {"base_url": server.url, "api_key": "sk-ant-contract"}

    def reply(self, text: str, *, stream: bool) -> Reply:
        if not stream:
            return message_reply(text)
        pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
        return stream_reply(pieces, split=3)  # every multi-byte character can land split

    def tool_call_reply(self, call: ToolCall, *, stream: bool) -> Reply:
        fragments = [call.arguments[i : i + 4] for i in range(0, len(call.arguments), 4)]
        script = [(call.id, call.name, fragments)]
        return stream_reply([], script, split=7) if stream else message_reply(None, script)

    def sent_model(self, request: RecordedRequest) -> str | None:
        body = request.json
        return body.get("model") if isinstance(body, dict) else None
