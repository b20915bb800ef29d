"""A correct provider and one deliberately broken variant per contract rule, each under the
contract suite. Not collected by the normal run (the name does not start with ``test_``):
``test_contract_suite.py`` runs this file in a pytest subprocess and checks that the
correct provider passes and that each broken variant fails exactly the test of its rule.

Class names say what is expected: ``TestEcho`` passes everything; ``TestStatic_<rule>``
fails only ``test_static[<rule>]``; ``TestBroken_<rule>`` fails only ``test_<rule>``
(hyphens become underscores).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from provider_core import AbstractProvider, FinishReason, ModelNotSupported, ToolCall, ToolCallDelta, Usage
from provider_core.errors import ProviderConnectionError, ProviderHTTPError, StreamInterrupted
from provider_core.messages import validate_messages
from provider_core.streaming import iter_text
from provider_core.testing import ProviderContract, Reply
from provider_core.transport import stream_post

_LEAKED: list[Any] = []  # the close-early variant keeps its responses alive here


def _whole(text: Iterator[str]) -> Iterator[str]:
    yield "".join(text)


class Echo(AbstractProvider):
    """A correct provider: POST {base_url}/chat, the reply body is the text; with tools,
    the reply body is one JSON tool call ``{"id", "name", "arguments"}``."""

    url = "http://127.0.0.1"
    working = True
    supports_stream = True
    supports_tools = True
    models: ClassVar[dict[str, str]] = {"echo-1": "Echo 1", "echo-2": "Echo 2"}
    default_model = "echo-1"

    @classmethod
    def resolve(cls, model: str) -> str:
        model = model or cls.default_model
        if model not in cls.models:
            raise ModelNotSupported(model, provider=cls.name)
        return model

    @classmethod
    def send(cls, model: str, messages: Any, kwargs: dict[str, Any]) -> Iterator[bytes]:
        body = {"model": model, "messages": messages}
        return stream_post(cls.name, kwargs["base_url"] + "/chat", json=body, timeout=kwargs.get("timeout", 10))

    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[Any]:
        model = cls.resolve(model)
        validate_messages(messages)
        if kwargs.get("tools"):
            return cls.tool_reply(model, messages, kwargs)
        text = iter_text(cls.send(model, messages, kwargs))
        return text if stream else _whole(text)

    @classmethod
    def tool_reply(cls, model: str, messages: Any, kwargs: dict[str, Any]) -> Iterator[Any]:
        """The tool call of a request with tools (the variants below break other rules)."""
        return _call(iter_text(cls.send(cls.resolve(model), messages, kwargs)))


def _call(text: Iterator[str]) -> Iterator[Any]:
    yield ToolCall(**json.loads("".join(text)))
    yield FinishReason("tool_calls")


# -- static rules ------------------------------------------------------------------------


class NotAProvider:  # "subclass": everything right but the base class
    name = "NotAProvider"
    url = ""
    working = supports_stream = True
    supports_gpt_35_turbo = supports_gpt_4 = needs_auth = False
    supports_message_history = True
    models = Echo.models
    default_model = None
    priority = 0
    create_completion = Echo.create_completion


class BadName(Echo):
    name = "echo provider"


class BadFlag(Echo):
    supports_stream = 1  # type: ignore[assignment]


class BadUrl(Echo):
    url = None  # type: ignore[assignment]


class NoModels(Echo):
    models: ClassVar[dict[str, str]] = {}
    default_model = None


class BadDefault(Echo):
    default_model = "echo-9"


class BadPriority(Echo):
    priority = "high"  # type: ignore[assignment]


class InstanceMethod(Echo):
    def create_completion(self, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[str]:  # type: ignore[override]
        return Echo.create_completion(model, messages, stream, **kwargs)


# -- runtime rules -----------------------------------------------------------------------


def _escapes_the_core_check(cls: type) -> type:
    """Give ``cls`` its ``create_completion`` unwrapped, after the class was made.

    The core checks a provider's input for it (``AbstractProvider`` wraps every subclass's
    ``create_completion`` when the class is created), so a provider can only break the
    input rules by escaping that check: this does it, as a class decorator or a metaclass
    could, and the suite must still catch the rule it breaks."""
    method = next(k.__dict__["create_completion"] for k in cls.__mro__ if "create_completion" in k.__dict__)
    cls.create_completion = classmethod(method.__func__.__wrapped__)  # type: ignore[attr-defined]
    return cls


class ClaimsGpt4(Echo):
    supports_gpt_4 = True


class RefusesListedModel(Echo):
    @classmethod
    def resolve(cls, model: str) -> str:
        if model == "echo-2":
            raise ModelNotSupported(model, provider=cls.name)
        return super().resolve(model)


@_escapes_the_core_check
class NoDefaultModel(Echo):
    @classmethod
    def resolve(cls, model: str) -> str:
        if not model:
            raise ModelNotSupported(model, provider=cls.name)
        return super().resolve(model)


@_escapes_the_core_check
class AcceptsAnyModel(Echo):
    @classmethod
    def resolve(cls, model: str) -> str:
        return model or cls.default_model


class NoToolRole(Echo):
    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[str]:
        if any(m.get("role") == "tool" for m in messages if isinstance(m, dict)):
            raise ValueError("role 'tool' is not supported")
        return super().create_completion(model, messages, stream, **kwargs)


@_escapes_the_core_check
class MutatesMessages(Echo):
    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[str]:
        result = super().create_completion(model, messages, stream, **kwargs)
        messages.insert(0, {"role": "system", "content": "Be brief."})
        return result


class ForgetsHistory(Echo):
    @classmethod
    def send(cls, model: str, messages: Any, kwargs: dict[str, Any]) -> Iterator[bytes]:
        return super().send(model, messages[-1:], kwargs)


@_escapes_the_core_check
class NoValidation(Echo):
    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[Any]:
        if kwargs.get("tools"):
            return cls.tool_reply(model, messages, kwargs)
        text = iter_text(cls.send(cls.resolve(model), messages, kwargs))
        return text if stream else _whole(text)


class StrictKwargs(Echo):
    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[str]:
        unknown = set(kwargs) - {"base_url", "timeout", "tools"}
        if unknown:
            raise TypeError(f"unexpected keyword(s): {sorted(unknown)}")
        return super().create_completion(model, messages, stream, **kwargs)


class ReturnsStr(Echo):
    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Any:
        result = super().create_completion(model, messages, stream, **kwargs)
        return result if stream or kwargs.get("tools") else "".join(result)


class YieldsBytes(Echo):
    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Any:
        if not stream:
            return super().create_completion(model, messages, stream, **kwargs)
        validate_messages(messages)
        return cls.send(cls.resolve(model), messages, kwargs)


class DecodesEachChunk(Echo):  # the original Aivvm bug: a character split in two is lost
    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[str]:
        if not stream or kwargs.get("tools"):
            return super().create_completion(model, messages, stream, **kwargs)
        validate_messages(messages)
        data = cls.send(cls.resolve(model), messages, kwargs)
        return (chunk.decode("utf-8", "replace") for chunk in data)


class Buffers(Echo):
    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[str]:
        text = super().create_completion(model, messages, stream, **kwargs)
        return (chunk for chunk in list(text)) if stream else text


class FirstChunkOnly(Echo):
    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[str]:
        text = super().create_completion(model, messages, True, **kwargs)
        return text if stream else (chunk for chunk in [next(text, "")])


class LeaksConnection(Echo):
    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[str]:
        text = super().create_completion(model, messages, stream, **kwargs)
        _LEAKED.append(text)

        def relay() -> Iterator[str]:
            yield from iter(text.__next__, None)  # a plain loop that never closes `text`

        return relay() if stream else text


class HidesHTTPErrors(Echo):
    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[str]:
        text = super().create_completion(model, messages, stream, **kwargs)

        def relay() -> Iterator[str]:
            try:
                yield from text
            except ProviderHTTPError as exc:
                raise RuntimeError(f"request failed: {exc}") from None

        return relay()


class RawConnectionErrors(Echo):
    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[str]:
        text = super().create_completion(model, messages, stream, **kwargs)

        def relay() -> Iterator[str]:
            try:
                yield from text
            except ProviderConnectionError as exc:
                if exc.kind != "refused":
                    raise
                raise ConnectionRefusedError(str(exc)) from None

        return relay()


class SwallowsInterruption(Echo):
    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[Any]:
        if kwargs.get("tools"):
            return cls.tool_reply(model, messages, kwargs)
        text = super().create_completion(model, messages, True, **kwargs)

        def relay() -> Iterator[str]:
            try:
                yield from text
            except StreamInterrupted:
                return
            except ProviderConnectionError as exc:
                if exc.kind == "refused":
                    raise

        return relay() if stream else _whole(relay())


class EmptyCrashes(Echo):
    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[str]:
        text = super().create_completion(model, messages, stream, **kwargs)

        def relay() -> Iterator[str]:
            yield next(text)  # StopIteration on an empty reply: a RuntimeError in a generator
            yield from text

        return relay()


class UsageTwice(Echo):
    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[Any]:
        yield from super().create_completion(model, messages, stream, **kwargs)
        yield Usage(3, 4)
        yield Usage(3, 4)


class FinishFirst(Echo):
    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[Any]:
        yield FinishReason("stop")
        yield from super().create_completion(model, messages, stream, **kwargs)


class NamelessDelta(Echo):
    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[Any]:
        yield from super().create_completion(model, messages, stream, **kwargs)
        yield ToolCallDelta(0, arguments="{}")  # a call's first delta without its id and name


class DropsToolCalls(Echo):  # claims supports_tools, but reads every reply as text
    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[Any]:
        kwargs.pop("tools", None)
        return super().create_completion(model, messages, stream, **kwargs)


# -- the suites ----------------------------------------------------------------------------

CASES: dict[str, type] = {
    "Echo": Echo,
    "Static_subclass": NotAProvider,
    "Static_name": BadName,
    "Static_flags_bool": BadFlag,
    "Static_url": BadUrl,
    "Static_models": NoModels,
    "Static_default_model": BadDefault,
    "Static_priority": BadPriority,
    "Static_create_completion": InstanceMethod,
    "Broken_model_families": ClaimsGpt4,
    "Broken_models_accepted": RefusesListedModel,
    "Broken_empty_model": NoDefaultModel,
    "Broken_unknown_model": AcceptsAnyModel,
    "Broken_messages_accepted": NoToolRole,
    "Broken_messages_unchanged": MutatesMessages,
    "Broken_history_sent": ForgetsHistory,
    "Broken_invalid_messages": NoValidation,
    "Broken_unknown_kwargs": StrictKwargs,
    "Broken_result_iterator": ReturnsStr,
    "Broken_chunk_str": YieldsBytes,
    "Broken_usage_once": UsageTwice,
    "Broken_finish_last": FinishFirst,
    "Broken_tool_call_delta": NamelessDelta,
    "Broken_tool_call": DropsToolCalls,
    "Broken_stream_text": DecodesEachChunk,
    "Broken_stream_incremental": Buffers,
    "Broken_non_stream_text": FirstChunkOnly,
    "Broken_close_early": LeaksConnection,
    "Broken_http_error": HidesHTTPErrors,
    "Broken_connection_error": RawConnectionErrors,
    "Broken_stream_interrupted": SwallowsInterruption,
    "Broken_empty_reply": EmptyCrashes,
}


@pytest.fixture(scope="module", autouse=True)
def _close_leaked() -> Iterator[None]:
    yield
    for text in _LEAKED:
        text.close()


class _Kwargs:
    def provider_kwargs(self, server: Any) -> dict[str, Any]:
        return {"base_url": server.url, "timeout": (5, 10)}

    def tool_call_reply(self, call: ToolCall, *, stream: bool) -> Reply:
        return Reply.text(json.dumps({"id": call.id, "name": call.name, "arguments": call.arguments}), chunk_size=4)


for _label, _provider in CASES.items():
    globals()[f"Test{_label}"] = type(f"Test{_label}", (_Kwargs, ProviderContract), {"provider": _provider})
