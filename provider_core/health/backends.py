"""The in-process state backend (the default) and the factory that picks a backend.

:class:`MemoryBackend` keeps the circuits of one process in a dict under a lock: reads
are one dictionary lookup, updates apply a pure transition under the lock. A clean
circuit (closed, nothing counted) is dropped, so the dict holds only providers with a
recent fault. For several processes or hosts, see :mod:`provider_core.health.redis_backend`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .state import CLOSED_STATE, CircuitState

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """Circuits of this process only (lost when it exits)."""

    def __init__(self) -> None:
        self._states: dict[str, CircuitState] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> CircuitState | None:
        return self._states.get(key)

    def update(self, key: str, change: Callable[[CircuitState], CircuitState]) -> tuple[CircuitState, CircuitState]:
        with self._lock:
            old = self._states.get(key) or CLOSED_STATE
            new = change(old)
            self.put(key, new)
            return old, new

    def put(self, key: str, state: CircuitState) -> None:
        """Store ``state`` as is (a clean one is dropped); used by the Redis backend's cache."""
        if state.clean:
            self._states.pop(key, None)
        else:
            self._states[key] = state

    def items(self) -> dict[str, CircuitState]:
        return dict(self._states)

    def replace_all(self, states: dict[str, CircuitState]) -> None:
        """Swap in a whole new set of circuits (the Redis backend's refresh)."""
        self._states = {k: v for k, v in states.items() if not v.clean}

    def clear(self) -> None:
        with self._lock:
            self._states = {}

    def close(self) -> None:
        pass
