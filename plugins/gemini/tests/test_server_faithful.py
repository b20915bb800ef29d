"""The official Google Gen AI SDK (``google-genai``, a test dependency only) against the
loopback server: it must parse every reply the other tests rely on, and raise its own
errors for the faults. This is what proves the server speaks the real protocol.

Each reply is also compared field by field with what the SDK parsed (dumped back under
the API's names): a field the SDK does not know would be missing there. Unknown enum
values (a finish reason the API does not have) make the SDK warn, which fails the test.
Every proxy variable points at a recording "guard" server (127.0.0.1 is exempt): a request
the SDK sent anywhere else would land there, and each test checks that none did.
"""

from __future__ import annotations

import base64
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from provider_gemini.server import (
    GeminiServer,
    error_frame,
    error_reply,
    frames_reply,
    function_call_part,
    generate_reply,
    key_invalid_reply,
    rate_limited_reply,
    response,
    stream_reply,
    text_part,
    thought_part,
    unavailable_reply,
    usage_metadata,
)

from provider_core.testing.server import LoopbackServer, Reply

genai = pytest.importorskip("google.genai")
from google.genai import errors, types  # noqa: E402

MODEL = "gemini-3.8-flash"
KEY = "sdk-test-key-0451"
CALLS = [
    function_call_part("weather", {"city": "Paris", "days": [1, 2]}, signature="c2lnLXBhcmlz"),
    function_call_part("weather", {"city": "Oslo"}, call_id="gemini-id-2"),
]


@pytest.fixture(autouse=True)
def guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackServer]:
    with LoopbackServer(lambda request: Reply(502, body="not here", framing="length")) as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        monkeypatch.delenv("GOOGLE_GENAI_USE_VERTEXAI", raising=False)
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # e.g. "X is not a valid FinishReason"
            yield proxy
        seen = [r for r in proxy.requests if "127.0.0.2" not in r.path]
        assert seen == [], f"the SDK sent requests elsewhere: {[(r.method, r.path) for r in seen]}"


@pytest.fixture
def server() -> Iterator[GeminiServer]:
    with GeminiServer(page_size=4) as server:
        yield server


@pytest.fixture
def client(server: GeminiServer) -> Any:
    return genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=server.url, api_version="v1beta"))


def as_sent(parsed: Any) -> dict[str, Any]:
    """What the SDK parsed, under the API's field names (its own additions removed)."""
    data = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
    data.pop("sdkHttpResponse", None)
    data.pop("automaticFunctionCallingHistory", None)
    return data


def test_a_plain_reply(client, server):
    payload = response([text_part("Hello, 世界 👋")], finish_reason="STOP", usage=usage_metadata(5, 7, thoughts=3))
    server.enqueue(generate_reply(payload))
    reply = client.models.generate_content(model=MODEL, contents="Hi")
    assert reply.text == "Hello, 世界 👋"
    assert reply.candidates[0].finish_reason == types.FinishReason.STOP
    usage = reply.usage_metadata
    assert (usage.prompt_token_count, usage.candidates_token_count, usage.thoughts_token_count) == (5, 7, 3)
    assert as_sent(reply) == payload
    (request,) = server.generations
    assert request.headers["x-goog-api-key"] == KEY and request.path == f"/v1beta/models/{MODEL}:generateContent"


def test_the_echo_streamed_and_not(client, server):
    assert client.models.generate_content(model=MODEL, contents="one two").text == "one two"
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="one two three"))
    assert "".join(c.text or "" for c in chunks) == "one two three"
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert server.generations[-1].path == f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"
    assert len(server.requests) == 2


@pytest.mark.parametrize("split", [1, 5, None])
def test_a_stream_split_anywhere(client, server, split):
    pieces = ["Привет", ", ", "мир ", "🌍", " naïve"]
    server.enqueue(stream_reply(pieces, usage=usage_metadata(4, 9), split=split))
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="Hi"))
    assert [c.text for c in chunks[:-1]] == pieces
    assert chunks[-1].usage_metadata.candidates_token_count == 9


@pytest.mark.parametrize("stream", [True, False])
def test_function_calls_and_thoughts(client, server, stream):
    parts = [thought_part("planning"), text_part("Checking."), *CALLS]
    if stream:
        frames = [response(parts[:2]), response(parts[2:3]), response(parts[3:], finish_reason="STOP")]
        server.enqueue(frames_reply(frames, split=7))
        replies = list(client.models.generate_content_stream(model=MODEL, contents="Weather?"))
        assert [as_sent(r) for r in replies] == frames
        calls = [call for r in replies for call in r.function_calls or []]
        signed = replies[1].candidates[0].content.parts[0]
    else:
        payload = response(parts, finish_reason="STOP", usage=usage_metadata(10, 20))
        server.enqueue(generate_reply(payload))
        reply = client.models.generate_content(model=MODEL, contents="Weather?")
        assert as_sent(reply) == payload
        calls = reply.function_calls
        signed = reply.candidates[0].content.parts[2]
    assert [(c.name, c.args, c.id) for c in calls] == [
        ("weather", {"city": "Paris", "days": [1, 2]}, None),
        ("weather", {"city": "Oslo"}, "gemini-id-2"),
    ]
    assert signed.thought_signature == b"sig-paris"


@pytest.mark.parametrize("reason", ["MAX_TOKENS", "SAFETY", "RECITATION", "OTHER", "MALFORMED_FUNCTION_CALL"])
def test_every_finish_reason(client, server, reason):
    payload = response([text_part("partial")], finish_reason=reason)
    server.enqueue(generate_reply(payload))
    reply = client.models.generate_content(model=MODEL, contents="Hi")
    assert reply.candidates[0].finish_reason == types.FinishReason(reason)
    assert as_sent(reply) == payload


def test_a_blocked_prompt(client, server):
    payload = response(block_reason="PROHIBITED_CONTENT", usage=usage_metadata(3, 0))
    server.enqueue(generate_reply(payload))
    reply = client.models.generate_content(model=MODEL, contents="Hi")
    assert reply.prompt_feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT
    assert not reply.candidates and as_sent(reply) == payload


@pytest.mark.parametrize(
    ("reply", "kind", "code", "status"),
    [
        (key_invalid_reply(), errors.ClientError, 400, "INVALID_ARGUMENT"),
        (error_reply(400, "Invalid value"), errors.ClientError, 400, "INVALID_ARGUMENT"),
        (error_reply(401, "Unauthenticated"), errors.ClientError, 401, "UNAUTHENTICATED"),
        (error_reply(403, "Denied"), errors.ClientError, 403, "PERMISSION_DENIED"),
        (rate_limited_reply(30, retry_delay="30s"), errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
        (error_reply(500, "An internal error has occurred."), errors.ServerError, 500, "INTERNAL"),
        (unavailable_reply(5), errors.ServerError, 503, "UNAVAILABLE"),
    ],
)
@pytest.mark.parametrize("stream", [True, False])
def test_http_faults_are_the_sdks_own_errors(client, server, reply, kind, code, status, stream):
    server.enqueue(reply)
    with pytest.raises(kind) as info:
        if stream:
            list(client.models.generate_content_stream(model=MODEL, contents="Hi"))
        else:
            client.models.generate_content(model=MODEL, contents="Hi")
    assert (info.value.code, info.value.status) == (code, status)
    assert info.value.message


def test_a_refused_key(server):
    with GeminiServer(api_key="right-key-9") as strict:
        client = genai.Client(api_key="wrong-key-9", http_options=types.HttpOptions(base_url=strict.url))
        with pytest.raises(errors.ClientError) as info:
            client.models.generate_content(model=MODEL, contents="Hi")
        assert info.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"


@pytest.mark.parametrize("after_text", [False, True])
def test_an_error_frame_in_a_stream(client, server, after_text):
    frames = ([response([text_part("Hello")])] if after_text else []) + [error_frame(500, "Internal error")]
    server.enqueue(frames_reply(frames))
    received = []
    with pytest.raises(errors.ServerError) as info:
        for chunk in client.models.generate_content_stream(model=MODEL, contents="Hi"):
            received.append(chunk.text)
    assert info.value.status == "INTERNAL"
    assert received == (["Hello"] if after_text else [])


def test_the_model_list_and_its_pages(client, server):
    names = [m.name for m in client.models.list(config={"page_size": 3})]
    assert names == [f"models/{m}" for m in server.models]
    pages = [r for r in server.requests if r.method == "GET"]
    assert len(pages) == 3 and "pageToken=3" in pages[1].path
    assert client.models.get(model=MODEL).name == f"models/{MODEL}"


def test_the_v1_paths_and_other_key_forms(server):
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=server.url, api_version="v1"))
    assert client.models.generate_content(model=MODEL, contents="via v1").text == "via v1"
    assert server.generations[-1].path.startswith("/v1/models/")


def test_the_sdks_own_requests_pass_the_servers_checks(client, server):
    config = types.GenerateContentConfig(
        system_instruction="Be brief.",
        temperature=0.3,
        max_output_tokens=20,
        stop_sequences=["END"],
        seed=3,
        response_mime_type="application/json",
        response_json_schema={"type": "object", "properties": {"a": {"type": "string"}}},
        tools=[types.Tool(function_declarations=[types.FunctionDeclaration(name="now", description="the time")])],
        tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode="ANY")),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    reply = client.models.generate_content(model=MODEL, contents="checked", config=config)
    (call,) = reply.function_calls  # the echo calls the first declared function
    assert (call.name, call.args) == ("now", {"query": "checked"})
    body = server.generations[-1].json
    assert body["generationConfig"]["responseJsonSchema"] == {"type": "object", "properties": {"a": {"type": "string"}}}
    assert body["systemInstruction"]["parts"] == [{"text": "Be brief."}]


def test_the_sdk_honours_the_guard(server, guard):
    """127.0.0.2 is not exempt: the SDK's request goes to the guard, so a request to any
    host other than 127.0.0.1 would have been seen there."""
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url="http://127.0.0.2:9"))
    with pytest.raises(errors.ServerError):
        client.models.generate_content(model=MODEL, contents="Hi")
    ((request),) = guard.requests
    assert request.path.startswith("http://127.0.0.2:9/v1")
    assert server.requests == []


@pytest.mark.parametrize("stream", [False, True])
def test_the_echos_tool_loop_as_the_sdk_runs_it(client, server, stream):
    """The echo's function call (with a thought signature, as Gemini 3 sends it) and its
    answer to the function's result, read by the SDK, the history sent back by the SDK."""
    tool = types.Tool(function_declarations=[types.FunctionDeclaration(name="weather", description="Weather")])
    config = types.GenerateContentConfig(
        tools=[tool], automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)
    )
    question = types.Content(role="user", parts=[types.Part(text="Weather in Oslo?")])
    generate = client.models.generate_content_stream if stream else client.models.generate_content
    replies = (
        list(generate(model=MODEL, contents=[question], config=config))
        if stream
        else [generate(model=MODEL, contents=[question], config=config)]
    )
    calls = [part for r in replies for part in r.candidates[0].content.parts if part.function_call]
    (part,) = calls
    assert (part.function_call.name, part.function_call.args) == ("weather", {"query": "Weather in Oslo?"})
    assert part.thought_signature  # bytes, decoded from base64 by the SDK
    assert replies[-1].usage_metadata.total_token_count > 0
    result = types.Part.from_function_response(name="weather", response={"content": "rain, 4C"})
    history = [question, types.Content(role="model", parts=[part]), types.Content(role="user", parts=[result])]
    answer = generate(model=MODEL, contents=history, config=config)
    text = "".join(r.text or "" for r in answer) if stream else answer.text
    assert text == "The tool said: rain, 4C"
    sent = server.generations[-1].json["contents"]
    assert sent[1]["parts"][0]["thoughtSignature"] == base64.b64encode(part.thought_signature).decode()
    assert sent[2]["parts"][0]["functionResponse"] == {"name": "weather", "response": {"content": "rain, 4C"}}
