"""The plugin-author kit's contract suite, run over a provider of the bridge: llm's built-in
OpenAI-compatible model (``extra-openai-models.yaml``), sent to the suite's server with the
per-call ``base_url`` that llm's OpenAI-compatible models accept through the bridge.

The suite checks the provider's events too (``usage-once``, ``finish-last``,
``tool-call-delta``) and, since the model declares tools, a tool call from the loopback
OpenAI server, streamed and not. The model's non-streamed replies carry ``usage``: llm's
OpenAI model requires it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from provider_llm.index import Index, ModelEntry
from provider_llm.keys import KeyStore
from provider_llm.providers import make_providers
from provider_openai.server import completion_reply, stream_reply

from provider_core.errors import InvalidMessages
from provider_core.events import ToolCall
from provider_core.testing import ProviderContract
from provider_core.testing.server import LoopbackServer, RecordedRequest, Reply

ENTRY = ModelEntry(
    "demo", "default", name="OpenAI Chat: demo", can_stream=True, tools=True, schema=True, has_async=True
)
(Bridge,) = make_providers(Index(key={}, models=(ENTRY,)), KeyStore({}, {}))
YAML = "- model_id: demo\n  model_name: demo\n  api_base: http://127.0.0.1:9/v1\n  supports_tools: true\n"


class Contracted(Bridge):  # type: ignore[misc, valid-type]
    """The bridge's ``llm-default`` for the model ``demo``, under a name of its own."""

    name = "llm-contract"


@pytest.fixture(autouse=True)
def _demo_model(llm_home: Path) -> None:
    (llm_home / "extra-openai-models.yaml").write_text(YAML, "utf-8")


def _with_usage(reply: Reply) -> Reply:
    payload = json.loads(reply.body)
    payload["usage"] = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    return Reply(200, body=json.dumps(payload), headers=reply.headers, framing="length")


class TestLlmBridgeContract(ProviderContract):
    provider = Contracted

    def provider_kwargs(self, server: LoopbackServer) -> dict[str, Any]:
        return {"base_url": server.url + "/v1"}

    def reply(self, text: str, *, stream: bool) -> Reply:
        if not stream:
            return _with_usage(completion_reply(text))
        pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
        return stream_reply(pieces, split=3)  # every multi-byte character can land split

    def tool_call_reply(self, call: ToolCall, *, stream: bool) -> Reply:
        if stream:
            return stream_reply([], tool_calls=[call], split=7)
        return _with_usage(completion_reply(None, tool_calls=[call]))

    def sent_model(self, request: RecordedRequest) -> str | None:
        body = request.json
        return body.get("model") if isinstance(body, dict) else None


@pytest.mark.parametrize("base_url", ["ftp://bob:pw-in-the-url-123@h.example/v1", b"https://bob:pw-in-the-url-123@h/"])
def test_a_refused_base_url_is_not_quoted_with_its_password(base_url: Any) -> None:
    with pytest.raises(InvalidMessages) as info:
        list(Contracted.create_completion("demo", [{"role": "user", "content": "hi"}], True, base_url=base_url))
    assert "base_url" in str(info.value)
    assert "pw-in-the-url-123" not in str(info.value) + repr(info.value.args)
