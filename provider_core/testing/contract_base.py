"""The machinery of the contract suite: hooks, fixtures, helpers and the static rules.

Authors use :class:`provider_core.testing.ProviderContract`; this module is its base.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, NoReturn

import pytest

from ..contract import RULES, check_provider
from ..errors import ProviderContractError
from ..events import ToolCall
from ..reply import ReplyState
from .server import LoopbackServer, RecordedRequest, Reply

#: Reply text of the runtime tests: 1- to 4-byte UTF-8 characters (Cyrillic, CJK, emoji).
REPLY_TEXT = "Hello, wörld! Привет, 世界 😀👍🏽 — done.\nSecond line ✓"
USER_PROMPT = "Say hello to the contract suite"
HISTORY: list[dict[str, str]] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Привет! Как дела? 你好 🙂"},
    {"role": "assistant", "content": "Хорошо, спасибо. Ελληνικά too."},
    {"role": "tool", "content": '{"temperature_c": 21}'},
    {"role": "user", "content": "Now summarise the conversation, please"},
]
#: Inputs the core refuses, each with why (the invalid-messages rule).
INVALID_INPUTS: list[tuple[str, Any, dict[str, Any]]] = [
    ("an empty list", [], {}),
    ("an unknown role", [{"role": "robot", "content": "hi"}], {}),
    ("a missing content", [{"role": "user"}], {}),
    ("a non-string content", [{"role": "user", "content": 42}], {}),
    ("a temperature of 3", [{"role": "user", "content": "hi"}], {"temperature": 3}),
]
UNKNOWN_MODEL = "provider-core-contract-no-such-model"
#: The tool of the tool-call rule, and the call the loopback fixture makes with it.
TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TOOL_CALL = ToolCall("call_contract_1", "get_weather", '{"city": "Paris"}')
#: Upper bound on the chunks read from one reply (everything here stops by itself).
MAX_CHUNKS = 100_000
#: The longest wait for the server to see what the client did (seconds).
SERVER_WAIT = 10.0


class _RuleBroken(Exception):
    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(detail)
        self.rule = rule
        self.detail = detail


_HERE = os.path.dirname(os.path.abspath(__file__))


def _kind(exc: BaseException) -> str:
    """``module.Type: message (raised at file:line in function)``, for failure messages."""
    name = type(exc).__qualname__
    if type(exc).__module__ not in ("builtins", None):
        name = f"{type(exc).__module__}.{name}"
    where = ""
    for err in (exc, exc.__cause__, exc.__context__):  # the deepest frame outside this suite
        frames = [f for f in traceback.extract_tb(getattr(err, "__traceback__", None)) if _HERE not in f.filename]
        if frames:
            where = f" (raised at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name})"
            break
    return f"{name}: {exc}{where}"


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value (keys and values)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


class ContractBase:
    """The hooks an author overrides, the per-test server, and the static rules.

    A subclass is collected by pytest (``__init_subclass__`` sets ``__test__``) unless it
    sets ``__test__`` itself, as the suite's own building blocks do.
    """

    __test__: ClassVar[bool] = False
    #: The provider class under test.
    provider: ClassVar[Any] = None
    #: The model the runtime tests use; ``None``: ``default_model``, else the first of ``models``.
    model: ClassVar[str | None] = None
    #: A model id the provider must refuse.
    unknown_model: ClassVar[str] = UNKNOWN_MODEL
    _contract_server: ClassVar[LoopbackServer | None] = None
    #: The statuses the http-error rule replays.
    http_error_statuses: ClassVar[tuple[int, ...]] = (400, 401, 404, 429, 500, 502, 503)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__test__" not in cls.__dict__:
            cls.__test__ = True

    # -- hooks ------------------------------------------------------------------------

    def make_server(self) -> LoopbackServer:
        """A new, not yet started, server; one serves all the runtime tests of a class."""
        return LoopbackServer(idle_timeout=SERVER_WAIT)

    def provider_kwargs(self, server: LoopbackServer) -> dict[str, Any]:
        """Keywords for ``create_completion`` that send its requests to ``server``."""
        return {"base_url": server.url}

    def reply(self, text: str, *, stream: bool) -> Reply:
        """The server's reply carrying ``text`` (to a request made with ``stream``)."""
        return Reply.text(text, chunk_size=1)

    def sent_model(self, request: RecordedRequest) -> str | None:
        """The model id ``request`` asked for, or ``None`` when this suite cannot tell."""
        return None

    def tool_call_reply(self, call: ToolCall, *, stream: bool) -> Reply | None:
        """The server's reply making tool call ``call`` (to a request made with ``stream``),
        in your protocol. Required when the provider declares ``supports_tools``."""
        return None

    # -- fixtures and helpers -----------------------------------------------------------

    @pytest.fixture
    def contract_server(self, request: pytest.FixtureRequest) -> Iterator[LoopbackServer]:
        """A started server for one runtime test, with no queued reply and no recorded
        request; skips the test when a static rule fails. One server serves the whole
        class (starting one per test would cost more than most tests); it stops when the
        class's tests are done."""
        self._require_static()
        server = self._shared_server(request)
        server.clear()
        handler = server.handler
        try:
            yield server
        finally:
            server.handler = handler
            server.clear()

    def _shared_server(self, request: pytest.FixtureRequest) -> LoopbackServer:
        cls = type(self)
        server = cls.__dict__.get("_contract_server")
        if server is None:
            server = self.make_server()
            server.start()
            cls._contract_server = server

            def stop() -> None:
                cls._contract_server = None
                server.stop()

            owner = request.node.getparent(pytest.Class) or request.node
            owner.addfinalizer(stop)
        return server

    def _name(self) -> str:
        return getattr(self.provider, "name", None) or repr(self.provider)

    def _static_results(self) -> list[Any]:
        if self.provider is None:
            pytest.fail(f"{type(self).__name__}: set `provider = YourProviderClass` on the class", pytrace=False)
        return check_provider(self.provider)

    def _require_static(self) -> None:
        broken = [r.rule for r in self._static_results() if not r.ok]
        if broken:
            pytest.skip(f"not checked: static rule {broken[0]!r} fails (see test_static[{broken[0]}])")
        if not self.provider.models:
            pytest.skip(f"not checked: models is empty ({self.provider.status_reason})")

    def _fail(self, rule: str, detail: str) -> NoReturn:
        """Fail the test with ``[rule] Provider: detail`` only (no suite internals, no
        exception chain: ``detail`` names any exception and where it was raised)."""
        raise pytest.fail.Exception(f"[{rule}] {self._name()}: {detail}", pytrace=False) from None

    def _use_model(self) -> str:
        if self.model is not None:
            return self.model
        default = getattr(self.provider, "default_model", None)
        return default if default else next(iter(self.provider.models))

    def _call(
        self,
        server: LoopbackServer,
        *,
        model: str | None = None,
        messages: Any = None,
        stream: bool = True,
        **extra: Any,
    ) -> Any:
        chosen = self._use_model() if model is None else model
        sent = [{"role": "user", "content": USER_PROMPT}] if messages is None else messages
        return self.provider.create_completion(chosen, sent, stream, **{**self.provider_kwargs(server), **extra})

    @staticmethod
    def _check_result(result: Any) -> Iterator[Any]:
        """``iter(result)``, or :class:`_RuleBroken` when ``result`` is not an iterable of chunks."""
        if result is None or isinstance(result, (str, bytes, bytearray)) or not hasattr(result, "__iter__"):
            raise _RuleBroken("result-iterator", f"create_completion returned {type(result).__name__}")
        return iter(result)

    @classmethod
    def _iterate(cls, result: Any, reply: ReplyState | None = None) -> Iterator[str]:
        """The text chunks of ``result``, its events checked and kept by ``reply`` (the
        core's own :class:`~provider_core.reply.ReplyState`); raises :class:`_RuleBroken`
        for a result that is not an iterator of str and events, or whose events break a
        rule. Stops after :data:`MAX_CHUNKS`."""
        it = cls._check_result(result)
        reply = reply if reply is not None else ReplyState("the provider")
        for _ in range(MAX_CHUNKS):
            try:
                chunk = next(it)
            except StopIteration:
                return
            try:
                if not isinstance(chunk, str) or reply.finish_reason is not None:
                    reply.add(chunk)  # text after the FinishReason breaks finish-last
            except ProviderContractError as exc:
                raise _RuleBroken(exc.rule or "chunk-str", f"{exc} ({chunk!r:.60})") from None
            if isinstance(chunk, str):
                yield chunk
        raise AssertionError(f"more than {MAX_CHUNKS} chunks: the reply does not end")

    def _text(self, result: Any, owner: str = "", reply: ReplyState | None = None) -> str:
        """The joined chunks. A broken result rule fails the test that owns it and skips
        any other test that needs it."""
        try:
            return "".join(self._iterate(result, reply))
        except _RuleBroken as broken:
            if broken.rule == owner:
                self._fail(broken.rule, broken.detail)
            pytest.skip(f"not checked: rule {broken.rule!r} fails ({broken.detail})")

    def _complete(self, server: LoopbackServer, text: str, *, stream: bool, owner: str = "", **call: Any) -> str:
        server.enqueue(self.reply(text, stream=stream))
        return self._text(self._call(server, stream=stream, **call), owner)

    # -- static rules -------------------------------------------------------------------

    @pytest.mark.parametrize("rule", [r.id for r in RULES])
    def test_static(self, rule: str) -> None:
        """One static rule of :mod:`provider_core.contract` (as ``provider-core check``)."""
        results = {r.rule: r for r in self._static_results()}
        if rule not in results:
            first = next(r.rule for r in results.values() if not r.ok)
            pytest.skip(f"not checked: static rule {first!r} fails")
        if not results[rule].ok:
            self._fail(rule, f"{results[rule].summary}: {results[rule].detail}")
