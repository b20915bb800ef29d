"""Streams that survive proxies: ``: keep-alive`` comments while a stream is silent, the
status held at most one interval, fallback still inside, and a failure after the status
as an error event then ``[DONE]``. Every order of events is decided by gates: a provider
blocks on an event that the test (or a tap on the wire) sets once a keep-alive was sent."""

from __future__ import annotations

import json
import threading
from typing import Any, ClassVar

import httpx
import openai
import pytest

from provider_core.errors import ProviderConnectionError, ProviderHTTPError
from provider_core.gateway.config import ConfigError, GatewayConfig
from provider_core.provider import AbstractProvider

INTERVAL = 0.05  # seconds of silence before a comment; small, so the gates open soon
BOUND = 20  # seconds any gate waits at most


class _Gated(AbstractProvider):
    url = "http://127.0.0.1/in-process"
    working = True
    supports_stream = True
    gates: ClassVar[dict[str, threading.Event]] = {}

    @classmethod
    def gate(cls, tag: str) -> threading.Event:
        return cls.gates.setdefault(tag, threading.Event())

    @classmethod
    def wait(cls, tag: str) -> None:
        if not cls.gate(tag).wait(BOUND):
            raise ProviderConnectionError("the gate never opened", provider=cls.name)


class Thinker(_Gated):
    """Says nothing until its gate (the prompt) opens, then ``thought done``."""

    models: ClassVar = {"think-1": "Thinker", "think-fb-1": "Thinker"}
    priority = 10

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        cls.wait(messages[-1]["content"])
        if model == "think-fb-1":
            raise ProviderConnectionError("thought too long", provider=cls.name, kind="reset")
        yield "thought "
        yield "done"


class Pauser(_Gated):
    """``a``, then silence until its gate opens, then ``b``."""

    models: ClassVar = {"pause-1": "Pauser"}

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        yield "a"
        cls.wait(messages[-1]["content"])
        yield "b"


class Backup(_Gated):
    """The fallback for ``think-fb-1``."""

    models: ClassVar = {"think-fb-1": "Backup"}

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        yield "from backup"


class Overloaded(_Gated):
    """Silent until its gate opens, then its upstream answers 503."""

    models: ClassVar = {"over-1": "Overloaded"}

    @classmethod
    def create_completion(cls, model, messages, stream, **kwargs):
        cls.wait(messages[-1]["content"])
        raise ProviderHTTPError(503, provider=cls.name, url="http://127.0.0.1:9/api")
        yield  # pragma: no cover


class KeepaliveTap:
    """ASGI wrapper: opens the gate ``tag`` once a keep-alive comment goes out (so a gate is
    opened by what the server did, whatever client reads the stream)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state = app.state
        self.tag: str | None = None
        self.sent = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def tapped(message: Any) -> None:
            await send(message)
            if message.get("body") == b": keep-alive\n\n":
                self.sent += 1
                if self.tag is not None:
                    _Gated.gate(self.tag).set()

        await self.app(scope, receive, tapped)


@pytest.fixture(scope="module")
def server(helpers):
    from provider_core.gateway.app import create_app

    app = create_app(helpers.make_registry(Thinker, Pauser, Backup, Overloaded), GatewayConfig(sse_keepalive=INTERVAL))
    tap = KeepaliveTap(app)
    running = helpers.ThreadedServer(tap).start()
    running.tap = tap
    try:
        yield running
    finally:
        _Gated.gates.clear()
        running.stop()


def stream_lines(server: Any, model: str, prompt: str, on_line: Any = None) -> tuple[httpx.Response, list[str]]:
    """POST a streamed chat; every line read (blank ones dropped), ``on_line`` told each."""
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": True}
    lines = []
    with httpx.Client(timeout=30) as http, http.stream("POST", server.url + "/v1/chat/completions", json=body) as r:
        for line in r.iter_lines():
            if line:
                lines.append(line)
                if on_line is not None:
                    on_line(line)
    return r, lines


def contents(lines: list[str]) -> str:
    chunks = [json.loads(line[6:]) for line in lines if line.startswith("data: {")]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))


def test_a_silent_model_gets_its_status_and_comments_until_its_first_chunk(server):
    tag = "silent-start"

    def read(line: str) -> None:
        if line == ": keep-alive":
            _Gated.gate(tag).set()  # the model may speak once the client has seen a comment

    response, lines = stream_lines(server, "think-1", tag, read)
    assert response.status_code == 200
    assert lines[0] == ": keep-alive"  # the status and a comment came before any data
    first_data = next(i for i, line in enumerate(lines) if line.startswith("data: "))
    assert all(line == ": keep-alive" for line in lines[:first_data])
    assert contents(lines) == "thought done"
    assert lines[-1] == "data: [DONE]"
    assert "x-provider-core-provider" not in response.headers  # unknown when the status went out
    assert json.loads(lines[first_data][6:])["provider"] == "Thinker"  # the chunks still name it


def test_silence_after_the_first_chunk_gets_comments_too(server):
    tag = "silent-middle"
    response, lines = stream_lines(
        server, "pause-1", tag, lambda line: line == ": keep-alive" and _Gated.gate(tag).set()
    )
    assert response.status_code == 200
    assert response.headers["x-provider-core-provider"] == "Pauser"  # the first chunk came at once
    a = next(i for i, line in enumerate(lines) if '"content":"a"' in line)
    b = next(i for i, line in enumerate(lines) if '"content":"b"' in line)
    assert ": keep-alive" in lines[a:b]
    assert contents(lines) == "ab" and lines[-1] == "data: [DONE]"


@pytest.mark.filterwarnings("ignore::provider_core.errors.FallbackWarning")
def test_fallback_before_the_first_chunk_still_happens_after_the_status(server):
    tag = "fallback-after-status"
    response, lines = stream_lines(
        server, "think-fb-1", tag, lambda line: line == ": keep-alive" and _Gated.gate(tag).set()
    )
    assert response.status_code == 200 and lines[0] == ": keep-alive"
    assert contents(lines) == "from backup"
    assert lines[-1] == "data: [DONE]"
    assert not any('"error"' in line for line in lines)


def test_a_failure_after_the_status_is_an_error_event_then_done(server):
    tag = "fails-after-status"
    response, lines = stream_lines(
        server, "over-1", tag, lambda line: line == ": keep-alive" and _Gated.gate(tag).set()
    )
    assert response.status_code == 200
    data = [line for line in lines if line.startswith("data: ")]
    assert data[-1] == "data: [DONE]"
    error = json.loads(data[-2][6:])["error"]
    assert error["code"] == "upstream_error" and "HTTP 503" in error["message"]
    assert len(data) == 2  # no chunk, the error, [DONE]


def test_the_official_client_reads_through_the_comments(server, helpers):
    server.tap.tag = "sdk-silent-start"
    try:
        with helpers.openai_client(server) as client:
            stream = client.chat.completions.create(
                model="think-1", messages=[{"role": "user", "content": "sdk-silent-start"}], stream=True
            )
            text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
            assert text == "thought done"
            server.tap.tag = "sdk-fails"
            failing = client.chat.completions.create(
                model="over-1", messages=[{"role": "user", "content": "sdk-fails"}], stream=True
            )
            with pytest.raises(openai.APIError) as info:
                for _ in failing:
                    pass
            assert info.value.body["code"] == "upstream_error"
    finally:
        server.tap.tag = None
    assert server.tap.sent >= 2


def test_an_answer_within_the_interval_keeps_its_own_status(helpers):
    config = GatewayConfig(sse_keepalive=BOUND)  # the interval never passes: errors are statuses
    with helpers.running(config=config) as gw, helpers.openai_client(gw) as client:
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="limited-1", messages=[{"role": "user", "content": "x"}], stream=True)
        with httpx.Client(timeout=30) as http:
            body = {"model": "echo-1", "messages": [{"role": "user", "content": "hi there"}], "stream": True}
            response = http.post(gw.url + "/v1/chat/completions", json=body)
        assert response.headers["x-provider-core-provider"] == "Echo"
        assert ": keep-alive" not in response.text


@pytest.mark.parametrize(
    ("raw", "expected"), [("", 15.0), ("0", 0.0), ("off", 0.0), ("2.5", 2.5), ("abc", None), ("-1", None)]
)
def test_the_keepalive_setting(raw, expected):
    env = {"PROVIDER_CORE_SSE_KEEPALIVE": raw}
    if expected is None:
        with pytest.raises(ConfigError, match="PROVIDER_CORE_SSE_KEEPALIVE"):
            GatewayConfig.from_env(env)
    else:
        assert GatewayConfig.from_env(env).sse_keepalive == expected
