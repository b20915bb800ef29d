"""The built-in plugin that puts the circuit breaker behind routing, and its settings.

Every :class:`~provider_core.Registry` that loads entry points (``get_registry()``, the
CLI, the gateway) gets one :class:`BreakerPlugin`, registered under the name ``breaker``
and listed by ``registry.plugins()`` / ``provider-core plugins`` with status ``builtin``.
It implements five hooks: ``provider_working`` (``False`` while the provider's circuit,
or its circuit for the model asked, is open; else no opinion), ``provider_status`` (why),
``provider_retry_after`` (when it reopens), ``provider_attempt`` (one trial through a
half-open circuit) and ``provider_outcome`` (count the upstream faults: a connection fault
against the provider, any other against the model).

Settings (environment variables, read when the registry loads; a bad value is reported
as a warning and its default used):

=====================================  ========  ==========================================
``PROVIDER_CORE_BREAKER``              ``on``    ``off`` (or ``0``/``false``/``no``) installs no breaker
``PROVIDER_CORE_BREAKER_FAILURES``     ``3``     upstream faults in a row that open a circuit
``PROVIDER_CORE_BREAKER_COOLDOWN``     ``60``    seconds a circuit stays open (a longer Retry-After wins)
``PROVIDER_CORE_BREAKER_MAX_COOLDOWN`` ``3600``  cap on the cooldown a Retry-After can ask for
``PROVIDER_CORE_BREAKER_TRIAL_TIMEOUT`` ``60``   seconds a half-open trial claim lasts without an outcome
``PROVIDER_CORE_REDIS_URL``            unset     ``redis://host:port/db``: share circuits through Redis
``PROVIDER_CORE_REDIS_PREFIX``         ``provider_core``  key prefix in Redis
``PROVIDER_CORE_REDIS_TIMEOUT``        ``0.5``   seconds for a Redis connect or command
``PROVIDER_CORE_BREAKER_SYNC``         ``1``     seconds between refreshes of the shared state
=====================================  ========  ==========================================
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from ..hookspecs import hookimpl
from .breaker import BreakerConfig, CircuitBreaker, StateBackend

__all__ = ["BreakerPlugin", "builtin_plugins", "config_from_environ", "get_breaker", "make_backend"]

PLUGIN_NAME = "breaker"
_OFF = {"0", "off", "false", "no", "disabled"}


class BreakerPlugin:
    """Pluggy hook implementations over one :class:`CircuitBreaker`.

    With a ``router`` (the registry's :class:`~provider_core.routing.Router`), the plugin
    tells it whenever the breaker's answers change (a circuit opened or closed, now or at a
    known time), so route plans stay cached between changes.
    """

    def __init__(self, breaker: CircuitBreaker, router: Any = None) -> None:
        self.breaker = breaker
        self.router = router
        breaker.on_change = self._answers_changed

    def _answers_changed(self, after: float | None) -> None:
        if self.router is not None:
            self.router.routes_changed(after, clock=self.breaker.clock)

    @hookimpl(tryfirst=True)
    def provider_working(self, provider: type, model: str | None) -> bool | None:
        return False if self.breaker.blocked(provider.name, model) else None

    @hookimpl(tryfirst=True)
    def provider_status(self, provider: type, model: str | None) -> str | None:
        return self.breaker.reason(provider.name, model)

    @hookimpl(tryfirst=True)
    def provider_retry_after(self, provider: type, model: str | None) -> float | None:
        return self.breaker.retry_after(provider.name, model)

    @hookimpl
    def provider_attempt(self, provider: type, model: str) -> bool | None:
        return None if self.breaker.allow(provider.name, model) else False

    @hookimpl
    def provider_outcome(self, provider: type, model: str, error: BaseException | None, elapsed: float) -> None:
        self.breaker.record(provider.name, error, model)


def _number(env: Mapping[str, str], name: str, default: float, kind: Callable[[str], Any]) -> Any:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not 0 < value < float("inf"):
        warnings.warn(f"{name}={raw!r} is not a positive number; using {default:g}", RuntimeWarning, stacklevel=2)
        return default
    return value


def config_from_environ(environ: Mapping[str, str] | None = None) -> BreakerConfig:
    """The :class:`BreakerConfig` the ``PROVIDER_CORE_BREAKER_*`` variables describe."""
    env = os.environ if environ is None else environ
    defaults = BreakerConfig()
    cooldown = _number(env, "PROVIDER_CORE_BREAKER_COOLDOWN", defaults.cooldown, float)
    max_cooldown = _number(env, "PROVIDER_CORE_BREAKER_MAX_COOLDOWN", max(defaults.max_cooldown, cooldown), float)
    if max_cooldown < cooldown:
        warnings.warn(
            f"PROVIDER_CORE_BREAKER_MAX_COOLDOWN ({max_cooldown:g}) is shorter than the cooldown; using {cooldown:g}",
            RuntimeWarning,
            stacklevel=2,
        )
        max_cooldown = cooldown
    return BreakerConfig(
        failures=_number(env, "PROVIDER_CORE_BREAKER_FAILURES", defaults.failures, int),
        cooldown=cooldown,
        max_cooldown=max_cooldown,
        trial_timeout=_number(env, "PROVIDER_CORE_BREAKER_TRIAL_TIMEOUT", defaults.trial_timeout, float),
    )


def make_backend(environ: Mapping[str, str] | None = None) -> StateBackend:
    """A :class:`RedisBackend` when ``PROVIDER_CORE_REDIS_URL`` is set (and redis-py is
    installed), else a :class:`MemoryBackend`. Nothing connects here."""
    from .backends import MemoryBackend

    env = os.environ if environ is None else environ
    url = env.get("PROVIDER_CORE_REDIS_URL", "").strip()
    if not url:
        return MemoryBackend()
    from .redis_backend import RedisBackend, redis_available, url_problem

    problem = url_problem(url)
    if problem is not None:
        warnings.warn(
            f"PROVIDER_CORE_REDIS_URL is not a usable Redis URL ({problem}); "
            "circuit state stays in this process (see docs/health.md)",
            RuntimeWarning,
            stacklevel=2,
        )
        return MemoryBackend()

    if not redis_available():
        warnings.warn(
            "PROVIDER_CORE_REDIS_URL is set but redis-py is not installed "
            "(pip install 'provider-core[redis]'); circuit state stays in this process",
            RuntimeWarning,
            stacklevel=2,
        )
        return MemoryBackend()
    return RedisBackend(
        url,
        prefix=env.get("PROVIDER_CORE_REDIS_PREFIX", "").strip() or "provider_core",
        timeout=_number(env, "PROVIDER_CORE_REDIS_TIMEOUT", 0.5, float),
        sync_interval=_number(env, "PROVIDER_CORE_BREAKER_SYNC", 1.0, float),
    )


def builtin_plugins(registry: Any, environ: Mapping[str, str] | None = None) -> list[tuple[str, object]]:
    """The plugins every entry-point registry gets: ``[("breaker", BreakerPlugin)]``, or
    none when ``PROVIDER_CORE_BREAKER=off``. The breaker drops the registry router's cached route
    plans whenever a circuit changes."""
    env = os.environ if environ is None else environ
    if env.get("PROVIDER_CORE_BREAKER", "").strip().lower() in _OFF:
        return []
    breaker = CircuitBreaker(make_backend(env), config_from_environ(env))
    plugins: list[tuple[str, object]] = [(PLUGIN_NAME, BreakerPlugin(breaker, registry.router))]
    latency = _latency_plugin(env)
    if latency is not None:
        plugins.append(("latency", latency))
    return plugins


def _latency_plugin(env: Mapping[str, str]) -> object | None:
    """The plugin sharing the routing latency figures through Redis, when the circuits are
    shared there too (a usable ``PROVIDER_CORE_REDIS_URL``, redis-py installed)."""
    url = env.get("PROVIDER_CORE_REDIS_URL", "").strip()
    if not url:
        return None
    from .latency import LatencyPlugin
    from .redis_backend import redis_available, url_problem

    if url_problem(url) is not None or not redis_available():
        return None  # make_backend said why, once
    timeout = _number(env, "PROVIDER_CORE_REDIS_TIMEOUT", 0.5, float)

    def connect() -> object:
        import redis

        return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)

    prefix = env.get("PROVIDER_CORE_REDIS_PREFIX", "").strip() or "provider_core"
    return LatencyPlugin(connect, prefix, _number(env, "PROVIDER_CORE_BREAKER_SYNC", 1.0, float))


def get_breaker(registry: Any) -> CircuitBreaker | None:
    """The circuit breaker of ``registry`` (``provider_core.get_registry()`` for the
    process-wide one), or ``None`` when it has none (``PROVIDER_CORE_BREAKER=off``, or an
    isolated registry)."""
    registry.load()
    plugin = registry.plugin_manager.get_plugin(PLUGIN_NAME)
    return plugin.breaker if isinstance(plugin, BreakerPlugin) else None
