"""Time to first chunk per (provider, model), shared by every process through Redis: the
figure the ``latency`` routing strategy orders by (:mod:`provider_core.strategy`).

Installed as a built-in plugin (``latency``, listed by ``provider-core plugins``) when
``PROVIDER_CORE_REDIS_URL`` is set and the breaker is on. It learns each request's time to
its first chunk from the ``provider_outcome`` hook, keeps a moving average per (provider,
model) in the process, and answers the ``provider_latency`` hook with the shared figure (the
process's own before the first exchange). Nothing touches the network on the request path:
a daemon thread, every ``interval`` seconds, blends the figures this process measured since
its last exchange into the hash ``{prefix}:latency`` (one Lua script: each field's shared
average moves towards this process's by the same weight a sample has locally) and reads the
whole hash back. Redis unreachable: one warning, the process's own figures keep serving, and
the exchanges resume when Redis answers.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ..hookspecs import hookimpl
from ..strategy import LoadStats

__all__ = ["BLEND", "LatencyPlugin"]

log = logging.getLogger("provider_core.health")

#: Blend each field of KEYS[1] towards the given figure (ARGV: weight, then field, figure
#: pairs), then return the whole hash.
BLEND = """
local weight = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  local old = tonumber(redis.call('HGET', KEYS[1], ARGV[i]))
  local new = tonumber(ARGV[i + 1])
  if old then new = old + weight * (new - old) end
  redis.call('HSET', KEYS[1], ARGV[i], string.format('%.17g', new))
end
return redis.call('HGETALL', KEYS[1])
"""


class LatencyPlugin:
    """The ``provider_outcome`` and ``provider_latency`` hooks over one Redis hash (see the
    module docstring); ``client`` is a redis-py client made lazily by ``connect()``."""

    def __init__(self, connect: Any, prefix: str, interval: float = 1.0) -> None:
        self._connect = connect
        self._client: Any = None
        self.key = f"{prefix}:latency"
        self.interval = interval
        self.local = LoadStats()  # this process's figures
        self._shared: dict[str, float] = {}  # "name|model" -> the shared average
        self._dirty: set[tuple[str, str]] = set()
        self._down = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @hookimpl
    def provider_outcome(self, provider: type, model: str, error: BaseException | None, elapsed: float) -> None:
        if error is None:
            self.local.first_chunk(provider.name, model, elapsed)
            self._dirty.add((provider.name, model))
            if self._thread is None:
                self._start()

    @hookimpl(tryfirst=True)
    def provider_latency(self, provider: type, model: str) -> float | None:
        shared = self._shared.get(f"{provider.name}|{model}")
        return shared if shared is not None else self.local.latency(provider.name, model)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="provider-core-latency", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.exchange()

    def exchange(self) -> bool:
        """Blend this process's new figures into Redis and read every shared figure back;
        False when Redis did not answer (the process's own figures keep serving)."""
        dirty, self._dirty = self._dirty, set()
        args: list[Any] = [LoadStats.ALPHA]
        for name, model in dirty:
            figure = self.local.latency(name, model)
            if figure is not None:
                args += [f"{name}|{model}", repr(figure)]
        try:
            if self._client is None:
                self._client = self._connect()
            reply = self._client.eval(BLEND, 1, self.key, *args)
        except Exception as exc:  # any Redis failure: keep serving on the process's figures
            self._dirty |= dirty
            if not self._down:
                self._down = True
                log.warning("routing latency figures stay in this process: Redis did not answer (%s)", exc)
            return False
        if self._down:
            self._down = False
            log.warning("routing latency figures are shared through Redis again")
        pairs = [item.decode() if isinstance(item, bytes) else str(item) for item in reply]
        self._shared = {pairs[i]: float(pairs[i + 1]) for i in range(0, len(pairs), 2)}
        return True

    def close(self) -> None:
        self._stop.set()
