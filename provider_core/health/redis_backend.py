"""Circuit state shared through Redis, for several gateway workers or hosts (extra
``provider-core[redis]``; redis-py is imported when the backend first connects).

* **Layout**: one hash per circuit, ``{prefix}:circuit:{key}``, and an index set
  (:mod:`provider_core.health.lua` describes both); entries expire (``PEXPIRE``)
  ``retention`` seconds after their last change, or after their open period.
* **Atomic by construction**: each transition (failure, success, trial claim, reset) is one
  Lua script that reads the circuit, applies the transition and writes it back inside
  Redis; no ``WATCH``, no retry, so no update is lost and no writer waits for another.
* **Reads never touch the network on the routing path**: a daemon thread refreshes a local
  copy every ``sync_interval`` seconds (one script call returns every circuit) and tells
  the breaker when it changed. The first read of a process loads the copy once,
  synchronously. A transition's reply updates the copy at once.
* **Redis unreachable**: one warning, then transitions apply to the local copy with the
  pure functions and are kept, in order, with their original ``now``. The sync thread keeps
  trying; when Redis answers it replays the kept transitions through the same scripts,
  reloads the copy, and logs that Redis is back. Every Redis call is bounded by ``timeout``:
  no request ever fails or waits long because of Redis.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
import warnings
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .backends import MemoryBackend, TransitionMethods
from .lua import CLEAR, FETCH, TRANSITIONS, decode_change, decode_states, transition_args
from .state import Change, CircuitState, Transition

__all__ = ["JOURNAL_LIMIT", "RedisBackend", "client_name", "redis_available", "url_problem"]

log = logging.getLogger("provider_core.health")

#: Transitions kept while Redis is unreachable, at most; past it the oldest are dropped
#: (and counted in the message that says Redis is back).
JOURNAL_LIMIT = 10_000

#: A kept ``clear()``: every circuit forgotten.
_CLEAR_ALL = "clear"


def client_name(role: str) -> str:
    """The name a provider-core process gives its Redis connections (``CLIENT SETNAME``), so
    that ``CLIENT LIST`` shows which process and part each belongs to:
    ``provider-core-<role>-<pid>``."""
    return f"provider-core-{role}-{os.getpid()}"


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


class RedisBackend(TransitionMethods):
    """Circuits in Redis, with a local copy for reads and as the fallback.

    ``url`` as redis-py takes it (``redis://127.0.0.1:6379/0``); ``timeout`` bounds each
    connect and command; ``sync_interval`` is the seconds between refreshes of the local
    copy; ``retention`` how long an entry outlives its last change; ``journal_limit`` how
    many transitions are kept for Redis while it is unreachable. Times come from the
    breaker's clock: hosts sharing a Redis should keep their clocks in sync (NTP).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "provider_core",
        timeout: float = 0.5,
        sync_interval: float = 1.0,
        retention: float = 3600.0,
        journal_limit: int = JOURNAL_LIMIT,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.index_key = f"{prefix}:circuit-index"
        self.timeout = timeout
        self.sync_interval = sync_interval
        self.retention = retention
        self.journal_limit = journal_limit
        self.degraded: str | None = None  # why Redis is not used right now, else None
        self._closing = False
        self._local = MemoryBackend()
        self._listener: Callable[[], None] | None = None
        self._client: Any = None
        self._scripts: dict[str, Any] = {}
        self._pid = 0
        self._start_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reset_process_state()

    def _reset_process_state(self) -> None:
        """What belongs to one process: the kept transitions and the locks (after a fork the
        parent keeps and replays its own transitions)."""
        self._journal: deque[Transition | str] = deque()
        self._dropped = 0
        self._client_lock = threading.Lock()
        self._lock = threading.RLock()  # the journal, the copy's bookkeeping
        self._refresh_lock = threading.Lock()  # one refresh (replay + reload) at a time
        self._dirty: set[str] | None = None  # keys the copy learnt of during a reload
        self._cleared = 0

    def circuit_key(self, key: str) -> str:
        """The Redis key of the circuit ``key``."""
        return f"{self.prefix}:circuit:{key}"

    @property
    def pending(self) -> int:
        """Transitions kept in this process for Redis, not replayed yet."""
        return len(self._journal)

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
            if self._pid:  # forked: new locks, new connections, new thread
                self._reset_process_state()
                copy = MemoryBackend()  # (its lock may have been held at the fork)
                copy.replace_all(self._local.items())
                self._local = copy
            self._client = None
            self._stop = threading.Event()
            self._closing = False
            self.refresh()
            self._thread = threading.Thread(
                target=self._sync_loop, args=(self._stop,), name="provider-core-breaker-sync", daemon=True
            )
            self._thread.start()
            self._pid = os.getpid()

    def _redis(self) -> Any:
        with self._client_lock:
            if self._client is None:
                import redis
                from redis.backoff import NoBackoff
                from redis.retry import Retry

                client = redis.Redis.from_url(
                    self.url,
                    socket_timeout=self.timeout,
                    socket_connect_timeout=self.timeout,
                    retry=Retry(NoBackoff(), 0),
                    decode_responses=True,
                    encoding_errors="replace",
                    client_name=client_name("breaker"),
                )
                # EVALSHA, loading the script when Redis does not know it (e.g. restarted)
                scripts = {kind: client.register_script(text) for kind, text in TRANSITIONS.items()}
                scripts["fetch"] = client.register_script(FETCH)
                scripts["clear"] = client.register_script(CLEAR)
                self._scripts, self._client = scripts, client
            return self._client

    def _call(self, script: str, keys: list[str], args: list[str]) -> Any:
        client = self._redis()
        return self._scripts[script](keys=keys, args=args, client=client)

    def _sync_loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.sync_interval):
            self.refresh()

    # -- Redis failures ------------------------------------------------------------------

    def _degrade(self, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:200]
        with self._lock:
            first, self.degraded = self.degraded is None, reason
        if first and not self._closing:
            text = (
                f"circuit breaker: Redis at {_safe_url(self.url)} is unreachable ({reason}); "
                "circuits are kept in this process until it is back, then replayed into it"
            )
            warnings.warn(text, RuntimeWarning, stacklevel=3)

    # -- the transitions -----------------------------------------------------------------

    def _send(self, item: Transition | str) -> Change | None:
        """Apply one transition (or a kept ``clear``) in Redis; raises when Redis fails."""
        if isinstance(item, str):
            self._call("clear", [self.index_key], [self.circuit_key("")])
            return None
        keys = [self.circuit_key(item.key), self.index_key]
        return decode_change(self._call(item.kind, keys, transition_args(item, self.retention)))

    def apply(self, transition: Transition) -> Change:
        """Apply ``transition`` in Redis (one Lua script); when Redis cannot be reached,
        to the local copy, keeping it to replay later."""
        self._ensure_started()
        if self.degraded is None:
            try:
                change = self._send(transition)
            except Exception as exc:
                self._degrade(exc)
            else:
                assert change is not None
                self._adopt(transition.key, change.new)
                return change
        return self._keep(transition)

    def _adopt(self, key: str, state: CircuitState) -> None:
        with self._lock:
            self._local.put(key, state)
            if self._dirty is not None:
                self._dirty.add(key)

    def _keep(self, transition: Transition) -> Change:
        with self._lock:
            change = self._local.apply(transition)
            self._remember(transition)
            if self._dirty is not None:
                self._dirty.add(transition.key)
            return change

    def _remember(self, item: Transition | str) -> None:
        if len(self._journal) >= self.journal_limit:
            self._journal.popleft()
            self._dropped += 1
        self._journal.append(item)

    # -- the local copy ------------------------------------------------------------------

    def refresh(self) -> bool:
        """Bring this process in line with Redis now: replay the transitions kept while it
        was unreachable (in order), then reload every circuit in one call. Returns False
        (and keeps to local state, with one warning) when Redis cannot be reached."""
        with self._refresh_lock:
            replayed = 0
            for _ in range(3):  # transitions kept during the reload: replay them too
                try:
                    replayed += self._replay()
                    with self._lock:
                        self._dirty, cleared = set(), self._cleared
                    states = decode_states(self._call("fetch", [self.index_key], [self.circuit_key("")]))
                except Exception as exc:
                    with self._lock:
                        self._dirty = None
                    self._degrade(exc)
                    return False
                with self._lock:
                    if self._journal:
                        continue
                    if cleared == self._cleared:
                        changed = self._install(states)
                    else:  # a clear() during the reload: the reload may predate it
                        self._dirty, changed = None, False
                    back, self.degraded = self.degraded is not None, None
                    dropped, self._dropped = self._dropped, 0
                if back:
                    lost = f"; {dropped} older transition(s) were dropped (journal limit)" if dropped else ""
                    log.warning(
                        "circuit breaker: Redis at %s is reachable again; %d transition(s) kept meanwhile "
                        "were replayed and circuits are shared%s",
                        _safe_url(self.url),
                        replayed,
                        lost,
                    )
                if changed and self._listener is not None:
                    self._listener()
                return True
            with self._lock:
                self._dirty = None
            return False

    def _replay(self) -> int:
        """Send the kept transitions to Redis, oldest first; each leaves the journal once
        Redis has applied it. Raises (keeping the rest) when Redis fails."""
        count = 0
        while True:
            with self._lock:
                if not self._journal:
                    return count
                item = self._journal[0]
            self._send(item)
            with self._lock:
                if self._journal and self._journal[0] is item:
                    self._journal.popleft()
            count += 1

    def _install(self, states: dict[str, CircuitState]) -> bool:
        """Swap in a reload (under the lock): circuits a transition reply or a local
        transition touched since the reload began keep their newer local state."""
        dirty, self._dirty = self._dirty or set(), None
        current = self._local.items()
        merged = {k: v for k, v in states.items() if k not in dirty}
        merged.update({k: current[k] for k in dirty if k in current})
        self._local.replace_all(merged)
        return merged != current

    # -- the backend protocol ------------------------------------------------------------

    def get(self, key: str) -> CircuitState | None:
        self._ensure_started()
        return self._local.get(key)

    def items(self) -> dict[str, CircuitState]:
        self._ensure_started()
        return self._local.items()

    def clear(self) -> None:
        """Forget every circuit, here and in Redis (later, if it is unreachable now)."""
        self._ensure_started()
        if self.degraded is None:
            try:
                self._send(_CLEAR_ALL)
            except Exception as exc:
                self._degrade(exc)
            else:
                with self._lock:
                    self._local.clear()
                    self._cleared += 1
                return
        with self._lock:
            self._local.clear()
            self._cleared += 1
            self._remember(_CLEAR_ALL)

    def close(self) -> None:
        """Stop the sync thread, hand Redis any transitions still kept (one try, bounded
        by the timeout) and close the connections (the backend can start again)."""
        self._stop.set()
        self._closing = True  # a sync still under way when this ends may fail: no warning then
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.timeout * 4 + self.sync_interval)
        self._thread = None
        if self._journal and self._pid == os.getpid():
            self.refresh()
        self._pid = 0
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:
                pass
