"""Contract rules about what comes out: results, chunks, streaming, closing, faults."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from typing import Any, ClassVar

import pytest

from ..errors import ProviderConnectionError, ProviderError
from ..reply import ReplyState
from .contract_base import REPLY_TEXT, SERVER_WAIT, TOOL, TOOL_CALL, ContractBase, _kind, _RuleBroken
from .server import LoopbackServer, RecordedRequest, Reply

#: How long the server holds back the end of a reply for a client that never reads ahead
#: (only a provider that buffers the whole reply waits that long; a correct one never does).
HOLD_SECONDS = 3.0


class OutputRules(ContractBase):
    """The rules about results, chunks, streaming, closing and error types."""

    __test__: ClassVar[bool] = False

    # -- results and chunks -------------------------------------------------------------

    def _check_items(self, server: LoopbackServer, rule: str) -> None:
        """Read the usual reply, streamed and not; fail when ``rule`` breaks, skip when
        another rule does."""
        for stream in (True, False):
            server.enqueue(self.reply(REPLY_TEXT, stream=stream))
            result = self._call(server, stream=stream)
            try:
                for _ in self._iterate(result):
                    pass
            except _RuleBroken as broken:
                if broken.rule == rule:
                    self._fail(rule, f"stream={stream}: {broken.detail}")
                if rule != "result-iterator":
                    pytest.skip(f"not checked: rule {broken.rule!r} fails")

    def test_result_iterator(self, contract_server: LoopbackServer) -> None:
        self._check_items(contract_server, "result-iterator")

    def test_chunk_str(self, contract_server: LoopbackServer) -> None:
        self._check_items(contract_server, "chunk-str")

    def test_usage_once(self, contract_server: LoopbackServer) -> None:
        self._check_items(contract_server, "usage-once")

    def test_finish_last(self, contract_server: LoopbackServer) -> None:
        self._check_items(contract_server, "finish-last")

    def test_tool_call_delta(self, contract_server: LoopbackServer) -> None:
        self._check_items(contract_server, "tool-call-delta")
        if self.provider.supports_tools:
            self._tool_call(contract_server, "tool-call-delta")

    def test_tool_call(self, contract_server: LoopbackServer) -> None:
        if not self.provider.supports_tools:
            pytest.skip("supports_tools is False")
        self._tool_call(contract_server, "tool-call")

    def _tool_call(self, server: LoopbackServer, owner: str) -> None:
        for stream in (True, False) if self.provider.supports_stream else (False,):
            reply = self.tool_call_reply(TOOL_CALL, stream=stream)
            if reply is None and owner != "tool-call":
                pytest.skip("not checked: rule 'tool-call' fails (no tool_call_reply)")
            if reply is None:
                self._fail(
                    "tool-call",
                    "supports_tools is True, but the suite does not know how your server makes a tool call: "
                    "override tool_call_reply(call, stream=...) to return that reply",
                )
            server.enqueue(reply)
            state = ReplyState(self._name())
            messages = [{"role": "user", "content": "What is the weather in Paris?"}]
            self._text(self._call(server, stream=stream, messages=messages, tools=[TOOL]), owner, state)
            if owner != "tool-call":
                continue
            calls = state.tool_calls
            if len(calls) != 1 or calls[0].name != TOOL_CALL.name or not calls[0].id:
                self._fail("tool-call", f"stream={stream}: the server made one call to {TOOL_CALL.name}, got {calls!r}")
            try:
                same = json.loads(calls[0].arguments) == json.loads(TOOL_CALL.arguments)
            except ValueError:
                same = False
            if not same:
                self._fail(
                    "tool-call",
                    f"stream={stream}: the call's arguments are {calls[0].arguments!r}, "
                    f"the server sent {TOOL_CALL.arguments!r}",
                )

    def test_stream_text(self, contract_server: LoopbackServer) -> None:
        text = self._complete(contract_server, REPLY_TEXT, stream=True)
        if text != REPLY_TEXT:
            self._fail("stream-text", f"stream=True joined to {text!r}, but the server sent {REPLY_TEXT!r}")

    def test_non_stream_text(self, contract_server: LoopbackServer) -> None:
        text = self._complete(contract_server, REPLY_TEXT, stream=False)
        if text != REPLY_TEXT:
            self._fail("non-stream-text", f"stream=False joined to {text!r}, but the server sent {REPLY_TEXT!r}")

    def _first_chunk(
        self, server: LoopbackServer, text: str, *, gone: bool = False
    ) -> tuple[Any, RecordedRequest, threading.Event]:
        """Start a streamed reply whose server holds its last body chunk until the returned
        gate is set; return (iterator, its request, gate) once a chunk arrived. A provider
        that waits for the whole reply gets it only when the hold times out
        (:data:`HOLD_SECONDS`, shorter than the read timeouts providers are given here), so
        its first chunk comes after the hold expired (``request.hold_expired``)."""
        reply = self.reply(text, stream=True)
        if len(reply.chunks()) < 2:
            pytest.fail(f"{type(self).__name__}.reply() must give at least two body chunks for this rule")
        gate = threading.Event()
        server.enqueue(replace(reply, hold=gate, hold_timeout=HOLD_SECONDS, gone_after_hold=gone))
        result = self._call(server, stream=True)
        try:
            it = self._check_result(result)
            for _ in self._iterate(it):
                break
        except _RuleBroken as broken:
            gate.set()
            pytest.skip(f"not checked: rule {broken.rule!r} fails ({broken.detail})")
        requests = server.requests
        if not requests:
            gate.set()
            self._fail("stream-incremental", "a chunk was yielded but no request reached the server")
        return it, requests[-1], gate

    def test_stream_incremental(self, contract_server: LoopbackServer) -> None:
        if not self.provider.supports_stream:
            pytest.skip("supports_stream is False")
        it, request, gate = self._first_chunk(contract_server, REPLY_TEXT)
        # The server holds the end of the reply until the gate opens; a provider that waits
        # for the whole reply sees its first chunk only after the hold timed out, which the
        # server records before sending the rest (``done`` may be set a moment later only).
        finished = request.hold_expired
        gate.set()
        getattr(it, "close", lambda: None)()
        if finished:
            self._fail(
                "stream-incremental",
                "supports_stream is True, but the first chunk came only after the whole reply "
                "(the server held back the end of it until the first chunk would be seen): "
                "read the body as it arrives",
            )

    def test_close_early(self, contract_server: LoopbackServer) -> None:
        if not self.provider.supports_stream:
            pytest.skip("supports_stream is False")
        it, request, gate = self._first_chunk(contract_server, REPLY_TEXT, gone=True)
        if request.hold_expired:  # (see test_stream_incremental)
            gate.set()
            getattr(it, "close", lambda: None)()
            pytest.skip("not checked: rule 'stream-incremental' fails (the reply was complete at the first chunk)")
        close = getattr(it, "close", None)
        if close is None:
            gate.set()
            self._fail("close-early", f"the result ({type(it).__name__}) has no close() to stop the request")
        close()
        gate.set()  # the server now waits for the connection to close, else sends the rest
        request.done.wait(2 * SERVER_WAIT)
        if request.outcome != "client-gone":
            self._fail(
                "close-early",
                f"after close() the server still sent the reply (outcome {request.outcome!r}): "
                "close the HTTP response when the iterator is closed (try/finally in the generator)",
            )

    # -- faults -------------------------------------------------------------------------

    def test_http_error(self, contract_server: LoopbackServer) -> None:
        handler = contract_server.handler
        try:
            for status in self.http_error_statuses:
                self._check_http_error(contract_server, status)
        finally:
            contract_server.handler = handler

    def _check_http_error(self, server: LoopbackServer, status: int) -> None:
        from ..errors import ProviderHTTPError

        server.clear()  # every request gets this status, retries included
        server.handler = lambda request: Reply(status, body=f"scripted failure {status}", framing="length")
        try:
            self._text(self._call(server, stream=True))
        except ProviderHTTPError as exc:
            if exc.status_code != status:
                self._fail("http-error", f"HTTP {status} raised ProviderHTTPError with status_code {exc.status_code}")
        except Exception as exc:
            self._fail("http-error", f"HTTP {status} raised {_kind(exc)}, not ProviderHTTPError")
        else:
            self._fail("http-error", f"HTTP {status} raised nothing: the error body was taken for a reply")

    def test_connection_error(self, contract_server: LoopbackServer) -> None:
        closed = self.make_server()
        closed.start()
        closed.stop()  # its port now refuses connections
        started = time.monotonic()
        try:
            self._text(
                self.provider.create_completion(
                    self._use_model(), [{"role": "user", "content": "hi"}], True, **self.provider_kwargs(closed)
                )
            )
        except ProviderConnectionError:
            pass
        except Exception as exc:
            self._fail("connection-error", f"a refused connection raised {_kind(exc)}, not ProviderConnectionError")
        else:
            self._fail("connection-error", "a refused connection raised nothing")
        assert time.monotonic() - started < 60, "a refused connection took over a minute to report"

    def test_stream_interrupted(self, contract_server: LoopbackServer) -> None:
        if self._complete(contract_server, REPLY_TEXT, stream=True) != REPLY_TEXT:
            pytest.skip("not checked: rule 'stream-text' fails")
        sent = len(REPLY_TEXT.encode("utf-8"))
        for fault in ("reset_after", "close_after"):
            reply = replace(self.reply(REPLY_TEXT, stream=True), **{fault: sent // 2})
            contract_server.enqueue(reply)
            got: list[str] = []
            try:
                for chunk in self._iterate(self._call(contract_server, stream=True)):
                    got.append(chunk)
            except _RuleBroken as broken:
                pytest.skip(f"not checked: rule {broken.rule!r} fails")
            except ProviderError:
                pass
            except Exception as exc:
                self._fail("stream-interrupted", f"a reply cut by {fault} raised {_kind(exc)}, not a ProviderError")
            else:
                self._fail(
                    "stream-interrupted",
                    f"a reply cut by {fault} ended without an error: a truncated reply "
                    f"({''.join(got)!r}) passed for a complete one",
                )
            if not REPLY_TEXT.startswith("".join(got)):
                self._fail("stream-interrupted", f"the text before the fault is not what was sent: {''.join(got)!r}")

    def test_empty_reply(self, contract_server: LoopbackServer) -> None:
        contract_server.enqueue(Reply(200, body=b"", framing="length"))
        try:
            text = self._text(self._call(contract_server, stream=True))
        except ProviderError:
            return
        except Exception as exc:
            self._fail("empty-reply", f"an empty reply raised {_kind(exc)}, not a ProviderError")
        if text:
            self._fail("empty-reply", f"an empty reply yielded {text!r}")
