"""The circuit breaker: circuits per provider and per (provider, model), kept in a state
backend, fed by the outcomes of requests.

A fault of the connection (refused, DNS, TLS, proxy, a connect timeout) says the provider
is unreachable: it counts against the provider's circuit, which blocks all its models. Any
other upstream fault (an HTTP error answering a request for a model, a fault inside its
stream) belongs to that model: it counts against the (provider, model) circuit only, so
one rate-limited or failing model does not take the provider's other models down. A
success closes both. The transitions themselves are the pure functions of
:mod:`provider_core.health.state`, applied by the backend's named transitions
(:class:`~provider_core.health.backends.StateBackend`); this module decides what counts as
a fault, asks the clock (injectable) and tells whoever listens when an answer changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..errors import (
    EmptyResponse,
    InvalidMessages,
    ModelNotSupported,
    ProviderConnectionError,
    ProviderNotFound,
    StreamInterrupted,
    summary,
)
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
    "circuit_key",
    "claim_trial",
    "format_clock",
    "is_connection_fault",
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


#: The network faults that say the provider itself is unreachable (its circuit, not a model's).
CONNECTION_KINDS = frozenset({"refused", "dns", "ssl", "proxy", "connect-timeout"})


def is_connection_fault(error: BaseException) -> bool:
    """Whether ``error`` is a fault of the connection to the provider (before any reply)."""
    return isinstance(error, ProviderConnectionError) and error.kind in CONNECTION_KINDS


def circuit_key(name: str, model: str | None = None) -> str:
    """The backend key of provider ``name``'s circuit, or of its circuit for ``model``:
    ``"openai"``, ``"openai|gpt-4o"`` (the name lower-cased, the model id as it is)."""
    return name.lower() if model is None else f"{name.lower()}|{model}"


class CircuitBreaker:
    """Circuits over a :class:`StateBackend`: one per provider (keyed by lower-cased name)
    and one per (provider, model) (see :func:`circuit_key`). The methods take a provider
    name and, where a request's model is known, the model.

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

    def _keys(self, name: str, model: str | None) -> tuple[str, ...]:
        return (name.lower(),) if model is None else (name.lower(), circuit_key(name, model))

    def state(self, name: str, model: str | None = None) -> CircuitState:
        """The circuit of provider ``name`` (or of ``name`` for ``model``); a closed one
        when nothing is recorded."""
        return self.backend.get(circuit_key(name, model)) or CLOSED_STATE

    def phase(self, name: str, model: str | None = None) -> Phase:
        return phase(self.state(name, model), self.clock())

    def _blocking(self, key: str, now: float) -> float:
        """Seconds until the circuit ``key`` stops blocking (0.0: it does not block now)."""
        state = self.backend.get(key)
        if state is None or not state.opened_until:
            return 0.0
        if now < state.opened_until:
            return state.opened_until - now
        if state.trial_until > now:
            return state.trial_until - now
        return 0.0

    def blocked(self, name: str, model: str | None = None) -> bool:
        """True while routing should skip ``name`` (for ``model``): its circuit, or the
        model's, is open, or half-open with a trial in flight. The fast path (nothing
        recorded) is a dictionary lookup per circuit."""
        now = 0.0
        for key in self._keys(name, model):
            state = self.backend.get(key)
            if state is None or not state.opened_until:
                continue
            now = now or self.clock()
            wait = self._blocking(key, now)
            if wait:
                self._expire_in(wait)
                return True
        return False

    def retry_after(self, name: str, model: str | None = None) -> float | None:
        """Seconds until ``name`` (for ``model``) stops being blocked, or ``None`` when it
        is not blocked: the later of its blocking circuits' reopening."""
        now = self.clock()
        wait = max(self._blocking(key, now) for key in self._keys(name, model))
        return wait or None

    def _expire_in(self, seconds: float) -> None:
        if self.on_change is not None:
            self.on_change(seconds)

    def allow(self, name: str, model: str | None = None) -> bool:
        """May a routed request go to ``name`` (for ``model``) now? Claims a half-open
        circuit's trial when it is free (the provider's first, then the model's)."""
        for key in self._keys(name, model):
            state = self.backend.get(key)
            if state is None or not state.opened_until:
                continue
            now = self.clock()
            if phase(state, now) is Phase.OPEN or state.trial_until > now:
                return False
            change = self.backend.claim(key, now, self.config)  # decided by the backend, atomically
            self._changed(change.old, change.new)
            if not change.granted:
                return False
        return True

    def success(self, name: str, model: str | None = None) -> None:
        """The provider answered (its first chunk arrived): both circuits forget their faults."""
        for key in self._keys(name, model):
            state = self.backend.get(key)
            if state is None or state.clean:
                continue  # nothing to forget: no write on the hot path
            change = self.backend.success(key, self.clock())
            self._changed(change.old, change.new)

    def failure(
        self,
        name: str,
        error: str = "",
        retry_after: float | None = None,
        *,
        midstream: bool = False,
        model: str | None = None,
    ) -> CircuitState:
        """Count one upstream fault against ``name``'s circuit, or its circuit for ``model``
        (``midstream``: after its first chunk); returns the new state."""
        key = circuit_key(name, model)
        change = self.backend.failure(key, self.clock(), self.config, error, retry_after, midstream)
        return self._changed(change.old, change.new)

    def record(self, name: str, error: BaseException | None, model: str | None = None) -> None:
        """Feed one outcome: ``None`` is a success; an upstream fault counts (a connection
        fault against the provider, any other against the model); other errors (the
        caller's bad request) are ignored."""
        if error is None:
            self.success(name, model)
        elif is_upstream_fault(error):
            midstream = _after_first_chunk(error)
            cause = error.__cause__ if midstream and error.__cause__ is not None else error
            scope = None if is_connection_fault(cause) else model
            retry_after = getattr(cause, "retry_after", None)
            self.failure(name, summary(cause, 200), retry_after, midstream=midstream, model=scope)

    def reason(self, name: str, model: str | None = None) -> str | None:
        """Why ``name`` (for ``model``) is skipped, e.g. ``circuit open until 12:03:04 (3
        failures in a row; last: ProviderTimeout: ...)`` or ``circuit for gpt-4o open
        until ...``; ``None`` when it is not."""
        now = self.clock()
        for key in self._keys(name, model):
            state = self.backend.get(key)
            if state is None or not state.opened_until:
                continue
            which = "circuit" if key == name.lower() else f"circuit for {model}"
            detail = f"{state.failures} failure{'s' if state.failures != 1 else ''} in a row"
            if state.last_error:
                detail += f"; last: {state.last_error}"
            if now < state.opened_until:
                return f"{which} open until {format_clock(state.opened_until)} ({detail})"
            if state.trial_until > now:
                return f"{which} half-open: a trial request is in flight ({detail})"
        return None

    def reset(self, name: str | None = None, model: str | None = None) -> None:
        """Close one circuit (``name``'s, or its circuit for ``model``), or all, and forget
        its faults."""
        if name is None:
            self.backend.clear()
            if self.on_change is not None:
                self.on_change(None)
        else:
            change = self.backend.reset(circuit_key(name, model))
            self._changed(change.old, change.new)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every recorded circuit: ``{name: {"phase": ..., **state}}`` (for ``probe --json``)."""
        now = self.clock()
        return {
            key: {"phase": phase(state, now).value, **state.to_dict()}
            for key, state in sorted(self.backend.items().items())
        }
