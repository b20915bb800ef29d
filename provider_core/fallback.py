"""The fallback loop: call candidates in order until one delivers, then relay.

A candidate *delivers* with its first text or tool call. One that fails before that with an
error whose ``fallback_ok`` is true (network, 5xx, 429, an empty reply, a broken plugin)
hands over to the next one, and a :class:`~provider_core.errors.FallbackWarning` says so.
After it nothing is switched: any fault becomes
:class:`~provider_core.errors.StreamInterrupted`, saying how much arrived. Every item is
checked (a ``str``, or an event kept by :class:`~provider_core.reply.ReplyState`, which
assembles tool calls); the provider's iterator is closed whenever the relay ends, fails or
is abandoned. A provider without ``supports_vision`` gets its messages' text parts joined.
:mod:`provider_core.routing` decides the candidates and :mod:`provider_core.completion`
opens the completion; this module only runs the candidates it is given.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .errors import (
    Attempt,
    EmptyResponse,
    FallbackWarning,
    NoProviderAvailable,
    ProviderConnectionError,
    ProviderContractError,
    ProviderError,
    StreamInterrupted,
)
from .events import Event, FinishReason, ToolCall, ToolCallDelta, Usage
from .messages import text_only
from .reply import ReplyState
from .secrets import scrub

if TYPE_CHECKING:
    from .hookcalls import HookCalls

__all__ = ["Completion"]


def _why(exc: BaseException) -> str:
    if isinstance(exc, ProviderError):
        return f"{type(exc).__name__}: {exc}"
    return f"raised {type(exc).__name__}: {exc}"


def _interruption_cause(exc: BaseException, name: str) -> str:
    """Why a stream stopped, without repeating the provider's name or the exception class
    when the error already is the provider's own account of a network fault."""
    if isinstance(exc, (StreamInterrupted, ProviderConnectionError)):
        text, prefix = str(exc), f"{name}: "
        return text[len(prefix) :] if text.startswith(prefix) else text
    return _why(exc)


#: What starts a reply: its first text, or its first tool call.
_DELIVERS = (ToolCallDelta, ToolCall)


def _contained(provider: type, exc: BaseException) -> Exception:
    """A provider's exception as the loop handles it. ``SystemExit`` (a provider calling
    ``sys.exit()``) and a ``KeyboardInterrupt`` raised outside the main thread (no signal
    raises it there: the provider did) become a :class:`ProviderContractError`, so that they
    fail this request only and never end the process (a gateway worker, say). A
    ``KeyboardInterrupt`` in the main thread is taken for the user's Ctrl-C, and everything
    else that is not an ``Exception`` (``GeneratorExit``, a cancellation) goes through."""
    if isinstance(exc, Exception):
        return exc
    if isinstance(exc, SystemExit) or (
        isinstance(exc, KeyboardInterrupt) and threading.current_thread() is not threading.main_thread()
    ):
        error = ProviderContractError(
            f"{provider.name} raised {type(exc).__name__}{f': {exc}' if str(exc) else ''}, not a ProviderError",
            provider=provider.name,
            rule="provider-error",
        )
        error.__cause__ = exc
        return error
    raise exc


def _close(it: Any) -> None:
    close = getattr(it, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            pass


class _FallbackLoop:
    """The state of one completion's fallback loop, and the loop itself.

    Kept apart from :class:`Completion` so that the running generator references this
    object, never the :class:`Completion` that owns the generator: dropping the last
    reference to a completion then finalizes its generator at once (closing the response
    and its connection) instead of waiting for the cycle collector.
    """

    def __init__(
        self,
        model: str,
        hooks: HookCalls | None,
        routed: bool,
        call: Callable[..., Any] | None,
        skipped: Sequence[Attempt],
        tracker: Any = None,
    ) -> None:
        self.model = model
        self.model_used: str | None = None
        self.provider: str | None = None
        self.attempts: list[Attempt] = []
        self.skipped = tuple(skipped)
        self.received_chars = 0
        self.reply: ReplyState | None = None
        self._hooks = hooks
        self._routed = routed
        self._call = call
        self._tracker = tracker

    def _start(
        self, provider: type, model: str, messages: Any, stream: bool, kwargs: dict[str, Any]
    ) -> tuple[Any, list[Any]]:
        """Call ``provider`` and wait until it delivers; return (iterator, the items so far:
        events that came first, then the first text or tool call)."""
        if not provider.supports_vision:
            messages = text_only(messages)
        if self._call is not None:
            result = self._call(provider, model, messages, stream, kwargs)
        else:
            result = provider.create_completion(model, messages, stream, **kwargs)
        if isinstance(result, (str, bytes)) or not hasattr(result, "__iter__"):
            raise ProviderContractError(
                f"{provider.name}.create_completion returned {type(result).__name__}, not an iterator of str",
                provider=provider.name,
                rule="result-iterator",
            )
        reply = self.reply = ReplyState(provider.name)
        it = iter(result)
        early: list[Any] = []
        try:
            for item in it:
                if isinstance(item, str):
                    if reply.finish_reason is not None:
                        reply.add(item)  # raises: nothing follows the FinishReason
                    if item:
                        early.append(item)
                        return it, early
                    continue
                reply.add(item)
                early.append(item)
                if type(item) in _DELIVERS:
                    return it, early
        except BaseException:
            _close(it)
            raise
        _close(it)
        raise EmptyResponse(f"{provider.name} answered with no text", provider=provider.name)

    def run(
        self,
        candidates: Sequence[type],
        model: str,
        messages: Any,
        stream: bool,
        kwargs: dict[str, Any],
        models: Sequence[str] | None = None,
    ) -> Iterator[str]:
        hooks = self._hooks
        report = hooks.report_outcome if hooks and hooks.implemented("provider_outcome") else None
        gate = hooks if hooks and self._routed and hooks.implemented("provider_attempt") else None
        tracker = self._tracker
        timed = report is not None or tracker is not None
        started = 0.0
        for i, provider in enumerate(candidates):
            asked = models[i] if models else model  # an alias's target asks for its own model
            shown = asked if asked != model else None
            if gate is not None and not gate.allow_attempt(provider, asked):
                reason = gate.status_reason(provider, asked) or "skipped by a provider_attempt hook"
                self.attempts.append(Attempt(provider.name, reason, model=shown))
                continue
            if timed:
                started = time.perf_counter()
            if tracker is not None:
                tracker.started(provider.name, asked)
            try:
                it, early = self._start(provider, asked, messages, stream, kwargs)
            except BaseException as raised:
                if tracker is not None:
                    tracker.finished(provider.name, asked)
                failed: Exception | None = _contained(provider, raised)
            else:
                failed = None
            if failed is not None:
                scrub(failed)  # the book of secrets: see provider_core.secrets
                if report is not None:
                    report(provider, asked, failed, time.perf_counter() - started)
                if isinstance(failed, ProviderError) and not failed.fallback_ok:
                    raise failed
                if len(candidates) == 1 and isinstance(failed, ProviderError):
                    raise failed  # one candidate: its own typed error says more than a summary
                self.attempts.append(Attempt(provider.name, _why(failed), failed, model=shown))
                continue
            if timed:
                elapsed = time.perf_counter() - started
                if report is not None:
                    report(provider, asked, None, elapsed)
                if tracker is not None:
                    tracker.first_chunk(provider.name, asked, elapsed)
            self.provider = provider.name
            self.model_used = asked
            if self.attempts:
                failed = "; ".join(str(a) for a in self.attempts)
                warnings.warn(f"fell back to {provider.name} after: {failed}", FallbackWarning, stacklevel=3)
            try:
                yield from self._relay(provider, asked, it, early, report, started)
            finally:
                if tracker is not None:
                    tracker.finished(provider.name, asked)
            return
        last = self.attempts[-1].error if self.attempts else None
        raise NoProviderAvailable(model, [*self.skipped, *self.attempts]) from last

    def _relay(
        self, provider: type, model: str, it: Any, early: list[Any], report: Any = None, started: float = 0.0
    ) -> Iterator[Any]:
        reply = self.reply
        assert reply is not None
        chars = chunks = 0
        try:
            for item in early:
                if isinstance(item, str):
                    chars += len(item)
                    chunks += 1
                    self.received_chars = chars
                yield item
            for item in it:
                if isinstance(item, str):
                    if item:
                        chars += len(item)
                        chunks += 1
                        self.received_chars = chars
                        yield item
                else:
                    reply.add(item)
                    yield item
                    if type(item) is FinishReason:  # last: whatever follows breaks the rule
                        for extra in it:
                            reply.add(extra)
        except GeneratorExit:
            raise
        except BaseException as raised:
            exc = _contained(provider, raised)
            scrub(exc)  # the book of secrets: see provider_core.secrets
            interrupted = StreamInterrupted(
                f"{provider.name} stopped after {chars:,} characters ({chunks} chunk{'s' if chunks != 1 else ''}): "
                f"{_interruption_cause(exc, provider.name)}",
                provider=provider.name,
                received_chars=chars,
                received_chunks=chunks,
                received_bytes=getattr(exc, "received_bytes", 0),
                kind=getattr(exc, "kind", None),
            )
            interrupted.__cause__ = exc
            if report is not None:
                report(provider, model, interrupted, time.perf_counter() - started)
            raise interrupted from exc
        finally:
            self.received_chars = chars
            _close(it)


class Completion(Iterator[str]):
    """The streamed reply of :func:`create_completion`: iterate it for text chunks.

    Iterating yields text only; once it is exhausted, ``tool_calls`` (the assembled
    :class:`~provider_core.events.ToolCall` list), ``usage`` and ``finish_reason`` hold what
    arrived besides it. :meth:`events` iterates the same reply with every item, text and
    events, in order (use one or the other).

    ``provider`` names the provider that answered (set when its first chunk arrives);
    ``attempts`` lists the candidates that failed before it, each with why; ``skipped``
    the providers routing passed over (not working, not streaming), which the
    :class:`NoProviderAvailable` raised when every candidate fails lists first. ``close()``
    (or leaving a ``with`` block) stops the request and frees its connection.

    With ``hooks`` (a registry's :class:`~provider_core.hookcalls.HookCalls`), each attempt is
    reported to the ``provider_outcome`` hooks and, when ``routed``, first cleared with the
    ``provider_attempt`` hooks. ``call(provider,
    model, messages, stream, kwargs)`` replaces ``provider.create_completion(...)`` (the
    async API uses it for providers with a native async method). ``models`` gives the model
    each candidate is asked for (an alias's targets; default: ``model`` for all), and
    ``tracker`` (a :class:`~provider_core.strategy.LoadStats`) is told when each attempt
    starts, answers and ends, for the routing strategies.
    """

    def __init__(
        self,
        candidates: Sequence[type],
        model: str,
        messages: Any,
        stream: bool,
        kwargs: dict[str, Any],
        *,
        hooks: HookCalls | None = None,
        routed: bool = True,
        call: Callable[..., Any] | None = None,
        skipped: Sequence[Attempt] = (),
        models: Sequence[str] | None = None,
        tracker: Any = None,
    ):
        self._loop = _FallbackLoop(model, hooks, routed, call, skipped, tracker)
        # the generator references the loop, not this object: see _FallbackLoop
        self._gen = self._loop.run(candidates, model, messages, stream, kwargs, models)
        self._step = self._gen.__next__

    @property
    def model(self) -> str:
        """The model (or alias) the caller asked for."""
        return self._loop.model

    @property
    def model_used(self) -> str | None:
        """The model the answering provider was asked for (an alias's target), once it answered."""
        return self._loop.model_used

    @property
    def provider(self) -> str | None:
        """The provider that answered, once its first chunk has arrived."""
        return self._loop.provider

    @property
    def attempts(self) -> list[Attempt]:
        """The candidates that failed (or were skipped by a hook) before one answered."""
        return self._loop.attempts

    @property
    def skipped(self) -> tuple[Attempt, ...]:
        """The providers routing passed over, each with why."""
        return self._loop.skipped

    @property
    def received_chars(self) -> int:
        """Characters delivered so far."""
        return self._loop.received_chars

    @property
    def tool_calls(self) -> list[ToolCall]:
        """The tool calls the reply made (complete once the reply is)."""
        reply = self._loop.reply
        return reply.tool_calls if reply is not None else []

    @property
    def usage(self) -> Usage | None:
        """The token counts the provider reported, if it did."""
        reply = self._loop.reply
        return reply.usage if reply is not None else None

    @property
    def finish_reason(self) -> str | None:
        """Why the reply ended (``stop``, ``length``, ``tool_calls``, ``content_filter``), if said."""
        reply = self._loop.reply
        return reply.finish_reason if reply is not None else None

    def __iter__(self) -> Iterator[str]:
        # a generator, not __next__: a method call less per chunk (bench: 256-byte chunks)
        return _text_only(self._gen)

    def __next__(self) -> str:
        item = self._step()  # the generator's bound __next__: a lookup less per chunk
        if type(item) is str:  # text: the per-chunk path, one test
            return item
        while True:  # an event: passed over (see events())
            item = self._step()
            if type(item) is str:
                return item

    def events(self) -> Iterator[Event]:
        """The reply's items in order: ``str`` text and the events of
        :mod:`provider_core.events` (tool-call deltas or whole calls, usage, finish reason)."""
        return self._gen

    def close(self) -> None:
        self._gen.close()

    def __enter__(self) -> Completion:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _text_only(items: Iterator[Any]) -> Iterator[str]:
    """The text of ``items`` (a completion's items), its events passed over."""
    for item in items:
        if type(item) is str:
            yield item
