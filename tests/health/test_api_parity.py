"""One behaviour suite, run over both APIs: ``create_completion`` (sync) and
``acreate_completion`` (async). Streaming, fallback, StreamInterrupted, errors,
validation, warnings and the breaker must behave the same whichever the caller uses."""

from __future__ import annotations

import asyncio
import warnings
from dataclasses import dataclass, field
from typing import Any

import pytest

from provider_core import acreate_completion, create_completion
from provider_core.errors import (
    InvalidMessages,
    ModelNotSupported,
    NoProviderAvailable,
    ProviderConnectionError,
    ProviderHTTPError,
    ProviderNotWorkingWarning,
    StreamInterrupted,
)
from provider_core.health import Phase
from provider_core.registry import Registry

USER = [{"role": "user", "content": "hi"}]


@dataclass
class Outcome:
    """What a caller saw: the chunks, the error and when it came (``call`` = at the call,
    before any request; ``iter`` = while iterating), who answered, and the warnings."""

    chunks: list[str] = field(default_factory=list)
    error: BaseException | None = None
    raised_at: str | None = None
    provider: str | None = None
    attempts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.chunks)


def _sync(model: str, messages: Any, **kwargs: Any) -> Outcome:
    out = Outcome()
    try:
        result = create_completion(model, messages, **kwargs)
    except Exception as exc:
        out.error, out.raised_at = exc, "call"
        return out
    if isinstance(result, str):
        out.chunks = [result]
        return out
    try:
        for chunk in result:
            out.chunks.append(chunk)
    except Exception as exc:
        out.error, out.raised_at = exc, "iter"
    out.provider = result.provider
    out.attempts = [str(a) for a in result.attempts]
    return out


def _async(model: str, messages: Any, **kwargs: Any) -> Outcome:
    async def go() -> Outcome:
        out = Outcome()
        try:
            result = acreate_completion(model, messages, **kwargs)
        except Exception as exc:
            out.error, out.raised_at = exc, "call"
            return out
        try:
            if kwargs.get("stream", True):
                async with result:
                    async for chunk in result:
                        out.chunks.append(chunk)
            else:
                out.chunks = [await result]
        except Exception as exc:
            out.error, out.raised_at = exc, "iter"
        out.provider = result.provider
        out.attempts = [str(a) for a in result.attempts]
        return out

    return asyncio.run(go())


@pytest.fixture(params=["sync", "async"])
def api(request):
    """``api(model, messages, **kwargs) -> Outcome`` through one of the two APIs,
    recording the warnings issued."""
    call = _sync if request.param == "sync" else _async

    def run(model: str, messages: Any = USER, **kwargs: Any) -> Outcome:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = call(model, messages, **kwargs)
        out.warnings = [f"{w.category.__name__}: {w.message}" for w in caught]
        return out

    run.name = request.param
    return run


def refused() -> ProviderConnectionError:
    return ProviderConnectionError("connection refused", provider="Flaky", kind="refused")


@pytest.fixture
def isolated(provider):
    def make(*specs: tuple[str, tuple, dict]) -> tuple[Registry, dict]:
        registry = Registry(load_entry_points=False)
        scripts = {}
        for name, steps, options in specs:
            cls, scripts[name] = provider(name, *steps, **options)
            registry.register(cls)
        return registry, scripts

    return make


def test_streams_the_same_chunks(api, isolated):
    registry, _ = isolated(("Only", ("hello world",), {}))
    out = api("m", registry=registry)
    assert out.error is None
    assert out.chunks == ["he", "ll", "o ", "wo", "rl", "d"]
    assert out.provider == "Only" and out.attempts == []


def test_stream_false_returns_the_whole_text(api, isolated):
    registry, _ = isolated(("Only", ("hello world",), {}))
    out = api("m", registry=registry, stream=False)
    assert out.error is None and out.chunks == ["hello world"]


def test_falls_back_before_the_first_chunk_and_says_so(api, isolated):
    registry, scripts = isolated(("Flaky", (refused(),), {"priority": 1}), ("Good", ("fine",), {}))
    out = api("m", registry=registry)
    assert out.error is None and out.text == "fine"
    assert out.provider == "Good"
    assert out.attempts == ["Flaky: ProviderConnectionError: connection refused"]
    assert out.warnings == [
        "FallbackWarning: fell back to Good after: Flaky: ProviderConnectionError: connection refused"
    ]
    assert scripts["Flaky"].calls == 1


def test_no_fallback_after_the_first_chunk(api, isolated):
    cut = ProviderConnectionError("reset", provider="Flaky", kind="reset")
    registry, scripts = isolated(("Flaky", (("partial", cut),), {"priority": 1}), ("Good", ("fine",), {}))
    out = api("m", registry=registry)
    assert out.chunks == ["pa", "rt", "ia", "l"]
    assert isinstance(out.error, StreamInterrupted) and out.raised_at == "iter"
    assert out.error.received_chars == 7 and out.error.partial_text is None
    assert isinstance(out.error.__cause__, ProviderConnectionError)
    assert scripts["Good"].calls == 0 and scripts["Flaky"].closed == 1


def test_stream_false_keeps_the_partial_text(api, isolated):
    cut = ProviderConnectionError("reset", provider="Flaky", kind="reset")
    registry, _ = isolated(("Flaky", (("partial", cut),), {}))
    out = api("m", registry=registry, stream=False)
    assert isinstance(out.error, StreamInterrupted) and out.error.partial_text == "partial"


def test_a_request_error_is_raised_without_fallback(api, isolated):
    registry, scripts = isolated(
        ("Picky", (ProviderHTTPError(400, provider="Picky"),), {"priority": 1}), ("Good", ("fine",), {})
    )
    out = api("m", registry=registry)
    assert isinstance(out.error, ProviderHTTPError) and out.error.status_code == 400
    assert out.raised_at == "iter" and scripts["Good"].calls == 0


def test_every_candidate_failing_lists_each(api, isolated):
    registry, _ = isolated(("A", (refused(),), {}), ("B", (RuntimeError("bug in B"),), {}))
    out = api("m", registry=registry)
    assert isinstance(out.error, NoProviderAvailable) and out.raised_at == "iter"
    assert str(out.error) == (
        "no provider could serve 'm': A: ProviderConnectionError: connection refused; B: raised RuntimeError: bug in B"
    )


@pytest.mark.parametrize(
    ("model", "messages", "kwargs", "error", "text"),
    [
        ("m", [], {}, InvalidMessages, "invalid input: messages"),
        ("m", [{"role": "robot", "content": "x"}], {}, InvalidMessages, "messages[0].role"),
        ("m", USER, {"temperature": 3}, InvalidMessages, "temperature: must be a number in [0, 2]"),
        ("gpt-4x", USER, {}, ModelNotSupported, "did you mean 'gpt-4'"),
        ("m", USER, {"provider": "nobody"}, Exception, "no provider named 'nobody'"),
    ],
    ids=["empty", "bad-role", "temperature", "unknown-model", "unknown-provider"],
)
def test_input_errors_are_raised_at_the_call(api, isolated, model, messages, kwargs, error, text):
    registry, scripts = isolated(("Only", ("x",), {"models": ("m", "gpt-4")}))
    out = api(model, messages, registry=registry, **kwargs)
    assert isinstance(out.error, error) and out.raised_at == "call"
    assert text in str(out.error)
    assert scripts["Only"].calls == 0


def test_no_working_provider_is_raised_at_the_call(api, isolated, provider):
    registry, _ = isolated()
    off, _ = provider("Off", "x")
    off.working = False
    registry.register(off)
    out = api("m", registry=registry)
    assert isinstance(out.error, NoProviderAvailable) and out.raised_at == "call"
    assert "Off: marked not working" in str(out.error)


def test_naming_a_not_working_provider_warns_and_calls_it(api, isolated, provider):
    registry, _ = isolated()
    off, _ = provider("Off", "called anyway")
    off.working = False
    registry.register(off)
    out = api("m", registry=registry, provider="off")
    assert out.error is None and out.text == "called anyway"
    assert out.warnings == ["ProviderNotWorkingWarning: Off is marked not working; calling it because it was named"]
    assert ProviderNotWorkingWarning.__name__ in out.warnings[0]


def test_the_breaker_sees_the_same_outcomes(api, provider, make_registry):
    flaky, script = provider("Flaky", refused(), priority=1)
    good, _ = provider("Good", "fine")
    registry, breaker = make_registry(flaky, good)
    for _ in range(3):
        assert api("m", registry=registry).text == "fine"
    assert breaker.phase("Flaky") is Phase.OPEN
    out = api("m", registry=registry)
    assert out.text == "fine" and out.attempts == [] and script.calls == 3


# -- over the network: the Aivvm provider against its loopback server ----------------------


@pytest.fixture
def aivvm(aivvm_server):
    from provider_aivvm import Aivvm

    registry = Registry(load_entry_points=False)
    registry.register(Aivvm)
    return registry, aivvm_server


def test_network_stream_is_exact_whatever_the_chunking(api, aivvm):
    registry, server = aivvm
    text = "Привет, мир! 你好 👋🏽 ok"
    server.script(text, chunk_size=1)
    out = api("gpt-4", registry=registry, include_not_working=True, base_url=server.url)
    assert out.error is None and out.text == text


def test_network_reset_after_some_bytes_is_stream_interrupted(api, aivvm):
    registry, server = aivvm
    server.script("0123456789" * 10, chunk_size=10, reset_after=25)
    out = api("gpt-4", registry=registry, include_not_working=True, base_url=server.url)
    assert isinstance(out.error, StreamInterrupted) and out.raised_at == "iter"
    assert out.text == ("0123456789" * 10)[: len(out.text)] and 0 < len(out.text) <= 25


def test_network_http_error_is_typed(api, aivvm):
    registry, server = aivvm
    server.script(status=429, body="slow down", headers={"Retry-After": "30"})
    out = api("gpt-4", registry=registry, include_not_working=True, base_url=server.url)
    assert isinstance(out.error, ProviderHTTPError)
    assert out.error.status_code == 429 and out.error.retry_after == 30
    assert "FallbackWarning" not in " ".join(out.warnings)
