"""Rate limits per API key: requests and tokens per minute, as two token buckets per key.

* **Who**: the key of the request's ``Authorization: Bearer`` header, known by its id (see
  :mod:`.keys`; never by the key itself). Without keys configured, every caller shares one
  budget, :data:`~.keys.ALL_CALLERS`.
* **Requests per minute** (``rpm``): a bucket holding up to ``rpm`` requests, refilled at
  ``rpm / 60`` a second; a request takes one, and is refused (429) when less than one is
  there. So a key may send ``rpm`` requests at once (the burst is the limit), then one every
  ``60 / rpm`` seconds.
* **Tokens per minute** (``tpm``): a bucket holding up to ``tpm`` tokens, refilled at
  ``tpm / 60`` a second. The tokens of a reply (its usage, or the gateway's estimate) are
  taken *after* the reply, so the bucket may go below zero, down to ``-tpm`` at most (a
  minute's worth of debt). A request is refused while the bucket is at or below zero,
  i.e. while the tokens counted in the last minute or so already reach the limit.
* **Where**: :class:`MemoryBuckets` in the process; with ``PROVIDER_CORE_REDIS_URL``,
  :class:`~.ratelimit_redis.RedisBuckets`, one Lua script per check, shared by every worker
  and instance. Redis unreachable: one warning in the log, then in-process buckets until it
  answers again (checked in the background); no request fails because of Redis.

The arithmetic is :func:`admit` and :func:`charge` over a :class:`BucketState`; the Lua
script is the same arithmetic, line for line.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .config import GatewayConfig
from .errors import RateLimitExceeded
from .keys import ALL_CALLERS

__all__ = ["BucketState", "Limits", "MemoryBuckets", "RateLimiter", "admit", "charge"]

log = logging.getLogger("provider_core.gateway")


@dataclass(frozen=True)
class Limits:
    """Requests and tokens per minute (0: no limit)."""

    rpm: int = 0
    tpm: int = 0


@dataclass(frozen=True)
class BucketState:
    """Both buckets of one key: levels and the times (seconds) they were last computed;
    a stamp of 0 is a bucket never used, which is full."""

    requests: float = 0.0
    requests_at: float = 0.0
    tokens: float = 0.0
    tokens_at: float = 0.0


def _refill(level: float, stamp: float, now: float, limit: int) -> float:
    if stamp <= 0:
        return float(limit)
    return min(float(limit), level + max(0.0, now - stamp) * (limit / 60.0))


def admit(state: BucketState, limits: Limits, now: float) -> tuple[BucketState | None, str | None, float]:
    """One request at ``now``: ``(new state, None, 0)`` when admitted (it took one request),
    else ``(None, "requests" or "tokens", seconds until it would pass)``."""
    requests = _refill(state.requests, state.requests_at, now, limits.rpm) if limits.rpm else 0.0
    tokens = _refill(state.tokens, state.tokens_at, now, limits.tpm) if limits.tpm else 0.0
    wait_requests = (1.0 - requests) * 60.0 / limits.rpm if limits.rpm and requests < 1.0 else 0.0
    wait_tokens = -tokens * 60.0 / limits.tpm if limits.tpm and tokens <= 0.0 else 0.0
    if limits.rpm and requests < 1.0:
        return None, "requests", max(wait_requests, wait_tokens)
    if limits.tpm and tokens <= 0.0:
        return None, "tokens", wait_tokens
    return BucketState(requests - 1.0 if limits.rpm else 0.0, now, tokens, now), None, 0.0


def charge(state: BucketState, limits: Limits, count: int, now: float) -> BucketState:
    """Take ``count`` tokens at ``now`` (down to ``-tpm`` at most)."""
    if not limits.tpm:
        return state
    tokens = max(-float(limits.tpm), _refill(state.tokens, state.tokens_at, now, limits.tpm) - count)
    return BucketState(state.requests, state.requests_at, tokens, now)


class MemoryBuckets:
    """The buckets of this process, by key id."""

    def __init__(self) -> None:
        self.states: dict[str, BucketState] = {}

    def admit(self, key_id: str, limits: Limits, now: float) -> tuple[str | None, float]:
        new, refused, wait = admit(self.states.get(key_id, BucketState()), limits, now)
        if new is not None:
            self.states[key_id] = new
        return refused, wait

    def charge(self, key_id: str, limits: Limits, count: int, now: float) -> None:
        self.states[key_id] = charge(self.states.get(key_id, BucketState()), limits, count, now)


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


class RateLimiter:
    """The limits of one gateway: who a request is, and whether it may pass.

    ``config`` gives the gateway-wide limits and the keys (with their own); ``environ``
    the Redis settings (``PROVIDER_CORE_REDIS_URL``, ``_PREFIX``, ``_TIMEOUT``, as the
    circuit breaker reads them); ``clock`` the time in seconds since the epoch (hosts
    sharing a Redis keep their clocks in sync, NTP)."""

    def __init__(
        self,
        config: GatewayConfig,
        environ: Mapping[str, str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.defaults = Limits(config.rate_limit_rpm, config.rate_limit_tpm)
        self.auth = config.auth_enabled
        self.clock = clock
        self._keys: dict[bytes, tuple[str, Limits]] = {}
        for entry in config.entries():
            rpm = self.defaults.rpm if entry.rpm is None else entry.rpm
            tpm = self.defaults.tpm if entry.tpm is None else entry.tpm
            self._keys[_digest(entry.key.encode("utf-8"))] = (entry.id, Limits(rpm, tpm))
        self.memory = MemoryBuckets()
        self.shared: Any = None
        url = environ.get("PROVIDER_CORE_REDIS_URL", "").strip()
        if url:
            from .ratelimit_redis import RedisBuckets, redis_settings

            settings = redis_settings(url, environ)
            if settings is not None:
                self.shared = RedisBuckets(*settings)

    def identify(self, authorization: str | None) -> tuple[str, Limits]:
        """The key id and limits of a request with this ``Authorization`` header (already
        accepted by :class:`~.auth.BearerAuth`); everyone is one caller without keys."""
        if not self.auth:
            return ALL_CALLERS, self.defaults
        token = (authorization or "").strip().partition(" ")[2].strip()
        found = self._keys.get(_digest(token.encode("utf-8", "surrogateescape")))
        return found if found is not None else (ALL_CALLERS, self.defaults)

    async def admit(self, key_id: str, limits: Limits) -> None:
        """Let one request of ``key_id`` pass, or raise :class:`RateLimitExceeded`."""
        if not (limits.rpm or limits.tpm):
            return
        now = self.clock()
        answer = await self.shared.admit(key_id, limits, now) if self.shared is not None else None
        refused, wait = answer if answer is not None else self.memory.admit(key_id, limits, now)
        if refused is not None:
            raise RateLimitExceeded(refused, limits.rpm if refused == "requests" else limits.tpm, wait, key_id)

    async def charge(self, key_id: str, limits: Limits, tokens: int) -> None:
        """Count ``tokens`` of a reply against ``key_id`` (never raises)."""
        if not limits.tpm or tokens <= 0:
            return
        now = self.clock()
        if self.shared is None or not await self.shared.charge(key_id, limits, tokens, now):
            self.memory.charge(key_id, limits, tokens, now)

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.close()
