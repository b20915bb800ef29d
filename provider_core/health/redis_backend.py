"""Circuit state shared through Redis, for several gateway workers or hosts (extra
``provider-core[redis]``; redis-py is imported when the backend first connects).

Layout: one Redis hash, ``{prefix}:circuits``, field = provider name (lower case), value =
the circuit as JSON plus an ``expires`` time. Each entry lives ``retention`` seconds past
its last change (an open circuit: past the end of its cooldown); expired entries are
ignored by readers and pruned by writers, and the hash itself carries a Redis TTL that
covers its longest-lived entry, so nothing lingers when the workers are gone.

* Reads never touch the network on the routing path: a daemon thread refreshes a local
  copy every ``sync_interval`` seconds (one ``HGETALL``) and tells the breaker when it
  changed. The first read of a process loads the copy once, synchronously.
* Updates are atomic across processes: ``WATCH`` the hash, apply the breaker's pure
  transition to what Redis holds, write it in ``MULTI``/``EXEC``, retry on a conflict.
* When Redis cannot be reached, one warning says so and the local copy carries on as
  in-process state; the sync thread keeps trying and a second message says when Redis
  is back (it then wins: local changes made meanwhile are dropped).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import random
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .backends import MemoryBackend
from .state import CLOSED_STATE, CircuitState

__all__ = ["RedisBackend", "redis_available", "url_problem"]

log = logging.getLogger("provider_core.health")

#: How long one update may keep retrying when other writers change the hash under it
#: (optimistic WATCH/MULTI); between tries it waits a random, doubling pause (jitter keeps
#: two processes from retrying in lockstep).
CONFLICT_BUDGET = 2.0
_FIRST_PAUSE = 0.0005
_MAX_PAUSE = 0.05


class _Contended(Exception):
    """Redis answered, but the update lost every race within :data:`CONFLICT_BUDGET`."""


def redis_available() -> bool:
    """Whether redis-py is installed (without importing it)."""
    return importlib.util.find_spec("redis") is not None


def url_problem(url: str) -> str | None:
    """What makes ``url`` unusable as a Redis URL, in a few words (never quoting a
    password), or ``None``: the scheme, a host, a port in range, a numeric database."""
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        return f"malformed: {exc}"
    if parts.scheme not in ("redis", "rediss", "unix"):
        given = f"{parts.scheme}://" if parts.scheme else "none"
        return f"the scheme must be redis://, rediss:// or unix://, not {given}"
    if parts.scheme != "unix" and not host:
        return "no host"
    if port is not None and not 0 < port < 65536:
        return f"port {port} is out of range"
    database = parts.path.strip("/")
    if parts.scheme != "unix" and database and not database.isdigit():
        return f"the database must be a number, got {database[:20]!r}"
    return None


def _safe_url(url: str) -> str:
    """``url`` without its user name or password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}" if parts.scheme else "<redis url>"


class RedisBackend:
    """Circuits in a Redis hash, with a local copy for reads and as the fallback.

    ``url`` as redis-py takes it (``redis://127.0.0.1:6379/0``); ``timeout`` bounds each
    connect and command; ``clock`` (seconds since the epoch) dates the entries: hosts
    sharing a Redis should keep their clocks in sync (NTP).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "provider_core",
        timeout: float = 0.5,
        sync_interval: float = 1.0,
        retention: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.key = f"{prefix}:circuits"
        self.timeout = timeout
        self.sync_interval = sync_interval
        self.retention = retention
        self.clock = clock
        self._local = MemoryBackend()
        self._listener: Callable[[], None] | None = None
        self._client: Any = None
        self._pid = 0
        self._start_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.degraded: str | None = None  # why Redis is not used right now, else None

    # -- wiring --------------------------------------------------------------------------

    def set_listener(self, listener: Callable[[], None]) -> None:
        """Called (from the sync thread) when a refresh brings a change made elsewhere."""
        self._listener = listener

    def _ensure_started(self) -> None:
        if self._pid == os.getpid():
            return
        with self._start_lock:
            if self._pid == os.getpid():
                return
            self._client = None  # after a fork: new connections, new thread
            self._stop = threading.Event()
            self.refresh()
            self._thread = threading.Thread(
                target=self._sync_loop, args=(self._stop,), name="provider-core-breaker-sync", daemon=True
            )
            self._thread.start()
            self._pid = os.getpid()

    def _redis(self) -> Any:
        if self._client is None:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            self._client = redis.Redis.from_url(
                self.url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 0),
                decode_responses=True,
            )
        return self._client

    def _sync_loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.sync_interval):
            self.refresh()

    # -- Redis failures ------------------------------------------------------------------

    def _degrade(self, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:200]
        if self.degraded is None:
            text = (
                f"circuit breaker: Redis at {_safe_url(self.url)} is unreachable ({reason}); "
                "circuits are kept in this process until it is back"
            )
            warnings.warn(text, RuntimeWarning, stacklevel=2)
        self.degraded = reason

    def _recovered(self) -> None:
        if self.degraded is not None:
            log.warning("circuit breaker: Redis at %s is reachable again; circuits are shared", _safe_url(self.url))
            self.degraded = None

    # -- encoding ------------------------------------------------------------------------

    def _expires(self, state: CircuitState) -> float:
        return max(state.opened_until, state.trial_until, state.changed) + self.retention

    def _decode(self, raw: str | None, now: float) -> CircuitState | None:
        if not raw:
            return None
        try:
            data = json.loads(raw)
            if float(data.get("expires", 0)) <= now:
                return None
            return CircuitState.from_dict(data)
        except (ValueError, TypeError, AttributeError):
            return None  # a corrupt entry counts as a closed circuit

    # -- the backend protocol ------------------------------------------------------------

    def refresh(self) -> bool:
        """Reload the local copy from Redis now; returns False (and degrades) on failure."""
        try:
            raw = self._redis().hgetall(self.key)
        except Exception as exc:
            self._degrade(exc)
            return False
        now = self.clock()
        states = {k: s for k, v in raw.items() if (s := self._decode(v, now)) is not None}
        self._recovered()
        before = self._local.items()
        self._local.replace_all(states)
        if self._local.items() != before and self._listener is not None:
            self._listener()
        return True

    def get(self, key: str) -> CircuitState | None:
        self._ensure_started()
        return self._local.get(key)

    def update(self, key: str, change: Callable[[CircuitState], CircuitState]) -> tuple[CircuitState, CircuitState]:
        self._ensure_started()
        if self.degraded is None:
            try:
                old, new = self._update_shared(key, change)
            except _Contended as exc:
                # Redis is up: this one update is applied locally, nothing is degraded.
                log.warning("circuit breaker: %s; applied in this process only", exc)
            except Exception as exc:
                self._degrade(exc)
            else:
                self._local.put(key, new)
                return old, new
        return self._local.update(key, change)

    def _update_shared(
        self, key: str, change: Callable[[CircuitState], CircuitState]
    ) -> tuple[CircuitState, CircuitState]:
        from redis.exceptions import WatchError

        deadline = time.monotonic() + CONFLICT_BUDGET
        pause = _FIRST_PAUSE
        with self._redis().pipeline() as pipe:
            while True:
                try:
                    pipe.watch(self.key)
                    now = self.clock()
                    raw = pipe.hgetall(self.key)
                    live = {k: s for k, v in raw.items() if (s := self._decode(v, now)) is not None}
                    old = live.get(key) or CLOSED_STATE
                    new = change(old)
                    if new.clean:
                        live.pop(key, None)
                    else:
                        live[key] = new
                    pipe.multi()
                    stale = [k for k in raw if k not in live]  # expired, corrupt, or now clean
                    if stale:
                        pipe.hdel(self.key, *stale)
                    if key in live:
                        pipe.hset(self.key, key, json.dumps({**new.to_dict(), "expires": self._expires(new)}))
                    if live:
                        ttl = max(self._expires(s) for s in live.values()) - now
                        pipe.expire(self.key, max(1, int(ttl) + 1))
                    pipe.execute()
                    return old, new
                except WatchError:
                    if time.monotonic() >= deadline:
                        raise _Contended(
                            f"circuit update for {key!r} kept conflicting with other writers for {CONFLICT_BUDGET:g}s"
                        ) from None
                    time.sleep(random.uniform(0, pause))
                    pause = min(pause * 2, _MAX_PAUSE)

    def items(self) -> dict[str, CircuitState]:
        self._ensure_started()
        return self._local.items()

    def clear(self) -> None:
        """Forget every circuit, here and in Redis."""
        try:
            self._redis().delete(self.key)
        except Exception as exc:
            self._degrade(exc)
        self._local.clear()

    def close(self) -> None:
        """Stop the sync thread and close the connections (the backend can start again)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.timeout * 2 + self.sync_interval)
        self._thread = None
        self._pid = 0
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:
                pass
