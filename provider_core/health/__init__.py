"""Provider health: the circuit breaker behind ``provider_working``, its state backends
(in-process memory, or Redis shared between processes), and the ``probe`` command.

Imported by the registry when it loads (the breaker is a built-in plugin), so nothing
heavy is imported here; redis-py is imported only when ``PROVIDER_CORE_REDIS_URL`` is set.
"""

from __future__ import annotations

from .breaker import BreakerConfig, CircuitBreaker, CircuitState, Phase, is_upstream_fault
from .plugin import BreakerPlugin, get_breaker

__all__ = [
    "BreakerConfig",
    "BreakerPlugin",
    "CircuitBreaker",
    "CircuitState",
    "Phase",
    "get_breaker",
    "is_upstream_fault",
]
