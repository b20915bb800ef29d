"""The state backend interface, and the in-process backend (the default).

A backend keeps circuits by key and applies the named transitions of
:mod:`provider_core.health.state` atomically, each returning a :class:`Change` (old and new
state, and for a claim whether it was granted) so the breaker can tell when an answer
changed. A transition is data (:class:`Transition`), never a Python callable: the Redis
backend runs it as a Lua script inside Redis (:mod:`provider_core.health.redis_backend`).

:class:`MemoryBackend` keeps the circuits of one process in a dict: reads are one
dictionary lookup, transitions apply the pure functions under a lock. A clean circuit
(closed, nothing counted) is dropped, so the dict holds only circuits with a recent fault.
"""

from __future__ import annotations

import threading
from typing import Protocol

from .state import CLOSED_STATE, BreakerConfig, Change, CircuitState, Transition

__all__ = ["Change", "MemoryBackend", "StateBackend"]


class StateBackend(Protocol):
    """Where circuit states live, by key (an opaque string).

    ``get`` and ``items`` must be cheap (no I/O on the routing path). Each transition is
    applied atomically with respect to every other user of the same state (threads of this
    process; with Redis, every process) and returns the :class:`Change` it made.
    """

    def get(self, key: str) -> CircuitState | None: ...

    def failure(
        self,
        key: str,
        now: float,
        config: BreakerConfig,
        error: str = "",
        retry_after: float | None = None,
        midstream: bool = False,
    ) -> Change: ...

    def success(self, key: str, now: float) -> Change: ...

    def claim(self, key: str, now: float, config: BreakerConfig) -> Change: ...

    def reset(self, key: str) -> Change: ...

    def items(self) -> dict[str, CircuitState]: ...

    def clear(self) -> None: ...

    def close(self) -> None: ...


class TransitionMethods:
    """The named transitions, each built as a :class:`Transition` and handed to ``apply``
    (which a backend defines)."""

    def apply(self, transition: Transition) -> Change:
        raise NotImplementedError

    def failure(
        self,
        key: str,
        now: float,
        config: BreakerConfig,
        error: str = "",
        retry_after: float | None = None,
        midstream: bool = False,
    ) -> Change:
        """Count one upstream fault (:func:`~provider_core.health.state.record_failure`)."""
        return self.apply(Transition("failure", key, now, config, error, retry_after, midstream))

    def success(self, key: str, now: float) -> Change:
        """A first chunk arrived (:func:`~provider_core.health.state.record_success`)."""
        return self.apply(Transition("success", key, now))

    def claim(self, key: str, now: float, config: BreakerConfig) -> Change:
        """Ask for the half-open trial (:func:`~provider_core.health.state.claim_trial`);
        ``Change.granted`` says whether the request may go."""
        return self.apply(Transition("claim", key, now, config))

    def reset(self, key: str) -> Change:
        """Close the circuit and forget it."""
        return self.apply(Transition("reset", key))


class MemoryBackend(TransitionMethods):
    """Circuits of this process only (lost when it exits)."""

    def __init__(self) -> None:
        self._states: dict[str, CircuitState] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> CircuitState | None:
        return self._states.get(key)

    def apply(self, transition: Transition) -> Change:
        """Apply ``transition`` to its circuit under the lock."""
        with self._lock:
            change = transition.apply(self._states.get(transition.key) or CLOSED_STATE)
            self._store(transition.key, change.new)
            return change

    def _store(self, key: str, state: CircuitState) -> None:
        if state.clean:
            self._states.pop(key, None)
        else:
            self._states[key] = state

    def put(self, key: str, state: CircuitState) -> None:
        """Store ``state`` as is (a clean one is dropped): the Redis backend's local copy
        adopting what Redis answered."""
        with self._lock:
            self._store(key, state)

    def items(self) -> dict[str, CircuitState]:
        return dict(self._states)

    def replace_all(self, states: dict[str, CircuitState]) -> None:
        """Swap in a whole new set of circuits (the Redis backend's refresh)."""
        fresh = {k: v for k, v in states.items() if not v.clean}
        with self._lock:
            self._states = fresh

    def clear(self) -> None:
        with self._lock:
            self._states = {}

    def close(self) -> None:
        pass
