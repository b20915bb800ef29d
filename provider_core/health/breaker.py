"""The circuit breaker: one circuit per provider, kept in a state backend, fed by the
outcomes of requests. The transitions themselves are the pure functions of
:mod:`provider_core.health.state`, applied by the backend's named transitions
(:class:`~provider_core.health.backends.StateBackend`); this module decides what counts as
a fault, asks the clock (injectable) and tells whoever listens when an answer changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..errors import EmptyResponse, InvalidMessages, ModelNotSupported, ProviderNotFound, StreamInterrupted, summary
from .backends import MemoryBackend, StateBackend
from .state import (
    CLOSED_STATE,
    BreakerConfig,
    CircuitState,
    Phase,
    claim_trial,
    format_clock,
    phase,
    record_failure,
    record_success,
)

__all__ = [
    "BreakerConfig",
    "CircuitBreaker",
    "CircuitState",
    "Phase",
    "StateBackend",
    "claim_trial",
    "format_clock",
    "is_upstream_fault",
    "phase",
    "record_failure",
    "record_success",
]


def is_upstream_fault(error: BaseException) -> bool:
    """Whether ``error`` counts against a provider: the faults a caller cannot provoke with a
    request the core accepts. Timeouts, refused and reset connections, 5xx, 429, 401/403
    (the provider's own credentials), broken streams and providers that raise count. A
    caller's bad request (``fallback_ok`` false: invalid messages, HTTP 400/413/422, an
    upstream error event that calls the request invalid), an unknown model and an empty
    reply do not: an upstream with nothing to say to one conversation (say, one made only of
    assistant turns) is no sign that it is down, and counting it would let one caller open
    the circuit for everyone."""
    if isinstance(error, StreamInterrupted):
        return True
    if isinstance(error, (InvalidMessages, ModelNotSupported, ProviderNotFound, EmptyResponse)):
        return False
    return bool(getattr(error, "fallback_ok", True))


def _after_first_chunk(error: BaseException) -> bool:
    """A :class:`StreamInterrupted` from routing: text had reached the caller."""
    return isinstance(error, StreamInterrupted) and error.received_chars > 0


class CircuitBreaker:
    """Per-provider circuits (keyed by lower-cased name) over a :class:`StateBackend`.

    ``clock`` returns seconds since the epoch (default :func:`time.time`; tests inject a
    fake). ``on_change(after)`` is called with ``None`` when some circuit changed, or
    with a number of clock seconds after which an answer will change by itself (an open
    circuit turning half-open): the plugin forwards it to the registry's route cache.
    """

    def __init__(
        self,
        backend: StateBackend | None = None,
        config: BreakerConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[float | None], None] | None = None,
    ) -> None:
        if backend is None:
            backend = MemoryBackend()
        self.backend = backend
        self.config = config or BreakerConfig()
        self.clock = clock
        self.on_change = on_change
        set_listener = getattr(backend, "set_listener", None)
        if set_listener is not None:  # a shared backend learns of changes made elsewhere
            set_listener(self._changed_elsewhere)

    def _changed_elsewhere(self) -> None:
        if self.on_change is not None:
            self.on_change(None)

    def _changed(self, old: CircuitState, new: CircuitState) -> CircuitState:
        """Tell ``on_change`` when routing's answer may differ: only the open and trial
        deadlines decide it (a fault counted in a closed circuit changes nothing)."""
        if self.on_change is not None and (old.opened_until, old.trial_until) != (new.opened_until, new.trial_until):
            self.on_change(None)
        return new

    def state(self, name: str) -> CircuitState:
        """The circuit of provider ``name`` (a closed one when nothing is recorded)."""
        return self.backend.get(name.lower()) or CLOSED_STATE

    def phase(self, name: str) -> Phase:
        return phase(self.state(name), self.clock())

    def blocked(self, name: str) -> bool:
        """True while routing should skip ``name``: open, or half-open with a trial in flight.
        The fast path (nothing recorded for ``name``) is one dictionary lookup."""
        state = self.backend.get(name.lower())
        if state is None or not state.opened_until:
            return False
        now = self.clock()
        if now < state.opened_until:
            self._expire_in(state.opened_until - now)
            return True
        if state.trial_until > now:
            self._expire_in(state.trial_until - now)
            return True
        return False

    def _expire_in(self, seconds: float) -> None:
        if self.on_change is not None:
            self.on_change(seconds)

    def allow(self, name: str) -> bool:
        """May a routed request go to ``name`` now? Claims the half-open trial when it is free."""
        state = self.backend.get(name.lower())
        if state is None or not state.opened_until:
            return True
        now = self.clock()
        if phase(state, now) is Phase.OPEN or state.trial_until > now:
            return False
        change = self.backend.claim(name.lower(), now, self.config)  # decided by the backend, atomically
        self._changed(change.old, change.new)
        return change.granted

    def success(self, name: str) -> None:
        """The provider answered (its first chunk arrived)."""
        state = self.backend.get(name.lower())
        if state is None or state.clean:
            return  # nothing to forget: no write on the hot path
        change = self.backend.success(name.lower(), self.clock())
        self._changed(change.old, change.new)

    def failure(
        self, name: str, error: str = "", retry_after: float | None = None, *, midstream: bool = False
    ) -> CircuitState:
        """Count one upstream fault against ``name`` (``midstream``: after its first chunk);
        returns the new state."""
        change = self.backend.failure(name.lower(), self.clock(), self.config, error, retry_after, midstream)
        return self._changed(change.old, change.new)

    def record(self, name: str, error: BaseException | None) -> None:
        """Feed one outcome: ``None`` is a success; an upstream fault counts; other errors
        (the caller's bad request) are ignored."""
        if error is None:
            self.success(name)
        elif is_upstream_fault(error):
            midstream = _after_first_chunk(error)
            cause = error.__cause__ if midstream and error.__cause__ is not None else error
            self.failure(name, summary(cause, 200), getattr(cause, "retry_after", None), midstream=midstream)

    def reason(self, name: str) -> str | None:
        """Why ``name`` is skipped, e.g. ``circuit open until 12:03:04 (3 failures in a
        row; last: ProviderTimeout: ...)``; ``None`` when it is not."""
        state = self.backend.get(name.lower())
        if state is None or not state.opened_until:
            return None
        now = self.clock()
        detail = f"{state.failures} failure{'s' if state.failures != 1 else ''} in a row"
        if state.last_error:
            detail += f"; last: {state.last_error}"
        if now < state.opened_until:
            return f"circuit open until {format_clock(state.opened_until)} ({detail})"
        if state.trial_until > now:
            return f"circuit half-open: a trial request is in flight ({detail})"
        return None

    def reset(self, name: str | None = None) -> None:
        """Close one circuit (or all) and forget its faults."""
        if name is None:
            self.backend.clear()
            if self.on_change is not None:
                self.on_change(None)
        else:
            change = self.backend.reset(name.lower())
            self._changed(change.old, change.new)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every recorded circuit: ``{name: {"phase": ..., **state}}`` (for ``probe --json``)."""
        now = self.clock()
        return {
            key: {"phase": phase(state, now).value, **state.to_dict()}
            for key, state in sorted(self.backend.items().items())
        }
