"""Rate-limit buckets shared through Redis: one Lua script per check, like the breaker's.

Layout, for the prefix ``P`` (``PROVIDER_CORE_REDIS_PREFIX``): ``P:ratelimit:{key id}``, a
hash with the fields of :class:`~.ratelimit.BucketState` (``requests``, ``requests_at``,
``tokens``, ``tokens_at``; numbers with 17 significant digits, so they read back exactly),
expiring two minutes after its last change (a bucket unused for a minute is full again,
which is what a missing entry means). The script :data:`SCRIPT` is :func:`.ratelimit.admit`
and :func:`.ratelimit.charge` written again in Lua, in the same double-precision
arithmetic, so a check and its update are one atomic step in Redis whatever the number of
workers and instances.

Redis is reached with redis-py's asyncio client (imported at the first check), each call
bounded by ``PROVIDER_CORE_REDIS_TIMEOUT`` and never retried. When a call fails the
buckets fall back to the process (one warning in the log); a background task sends a
``PING`` every second and puts Redis back in use when it answers (one more log line).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from ..health.redis_backend import redis_available, url_problem

__all__ = ["RETENTION_MS", "SCRIPT", "RedisBuckets", "redis_settings", "safe_url"]

log = logging.getLogger("provider_core.gateway")

#: How long a bucket outlives its last change, in milliseconds.
RETENTION_MS = 120_000

# KEYS[1]: the key's hash. ARGV: op ('admit' or 'charge'), now (s), rpm, tpm, tokens (charge).
# Returns {admitted (1/0), refused kind ('' / 'requests' / 'tokens'), seconds to wait}.
SCRIPT = r"""
local op, now, rpm, tpm = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local raw = redis.call('HMGET', KEYS[1], 'requests', 'requests_at', 'tokens', 'tokens_at')
local function num(v)
  local x = tonumber(v or '0')
  if x == nil or x ~= x or x == math.huge or x == -math.huge then return 0 end
  return x
end
local rl, rt, tl, tt = num(raw[1]), num(raw[2]), num(raw[3]), num(raw[4])
local function refill(level, stamp, limit)
  if stamp <= 0 then return limit end
  return math.min(limit, level + math.max(0, now - stamp) * (limit / 60))
end
local function f(x) return string.format('%.17g', x) end
local function save(r, rat, t, tat)
  redis.call('HSET', KEYS[1], 'requests', f(r), 'requests_at', f(rat), 'tokens', f(t), 'tokens_at', f(tat))
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
end
if op == 'charge' then
  if tpm > 0 then save(rl, rt, math.max(-tpm, refill(tl, tt, tpm) - tonumber(ARGV[5])), now) end
  return {1, '', '0'}
end
local r, t = 0, 0
if rpm > 0 then r = refill(rl, rt, rpm) end
if tpm > 0 then t = refill(tl, tt, tpm) end
local wr, wt = 0, 0
if rpm > 0 and r < 1 then wr = (1 - r) * 60 / rpm end
if tpm > 0 and t <= 0 then wt = -t * 60 / tpm end
if rpm > 0 and r < 1 then return {0, 'requests', f(math.max(wr, wt))} end
if tpm > 0 and t <= 0 then return {0, 'tokens', f(wt)} end
if rpm > 0 then r = r - 1 else r = 0 end
save(r, now, t, now)
return {1, '', '0'}
"""


def safe_url(url: str) -> str:
    """``url`` without its credentials."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    except ValueError:  # a malformed port or host: show none of it
        return "<the Redis URL>"
    return f"{parts.scheme}://{host}{parts.path}"


def redis_settings(url: str, environ: Mapping[str, str]) -> tuple[str, str, float] | None:
    """``(url, prefix, timeout)`` from the circuit breaker's variables, or ``None`` (with a
    warning in the log) when the URL is unusable or redis-py is missing."""
    problem = url_problem(url)
    if problem is not None:
        log.warning("rate limits: PROVIDER_CORE_REDIS_URL is not usable (%s); limits stay in each process", problem)
        return None
    if not redis_available():
        log.warning("rate limits: redis-py is not installed (provider-core[redis]); limits stay in each process")
        return None
    prefix = environ.get("PROVIDER_CORE_REDIS_PREFIX", "").strip() or "provider_core"
    try:
        timeout = float(environ.get("PROVIDER_CORE_REDIS_TIMEOUT", "").strip() or 0.5)
    except ValueError:
        timeout = 0.5
    return url, prefix, (timeout if 0 < timeout < float("inf") else 0.5)


class RedisBuckets:
    """The buckets in Redis; ``admit`` / ``charge`` answer ``None`` / ``False`` while Redis
    is unreachable (the caller then uses its own process's buckets)."""

    def __init__(self, url: str, prefix: str, timeout: float, retry_interval: float = 1.0) -> None:
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        self.retry_interval = retry_interval
        self.degraded: str | None = None
        self._client: Any = None
        self._script: Any = None
        self._recovery: asyncio.Task[None] | None = None

    def key(self, key_id: str) -> str:
        return f"{self.prefix}:ratelimit:{key_id}"

    def _connect(self) -> Any:
        if self._client is None:
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            from ..health.redis_backend import client_name

            self._client = aioredis.Redis.from_url(
                self.url,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=Retry(NoBackoff(), 0),
                decode_responses=True,
                client_name=client_name("ratelimit"),
            )
            self._script = self._client.register_script(SCRIPT)
        return self._script

    async def _run(self, key_id: str, args: list[str]) -> Any:
        if self.degraded is not None:
            return None
        try:
            script = self._connect()
            return await script(keys=[self.key(key_id)], args=[*args, str(RETENTION_MS)])
        except Exception as exc:
            self._degrade(exc)
            return None

    async def admit(self, key_id: str, limits: Any, now: float) -> tuple[str | None, float] | None:
        reply = await self._run(key_id, ["admit", repr(float(now)), str(limits.rpm), str(limits.tpm), "0"])
        if reply is None:
            return None
        admitted, kind, wait = reply
        return (None, 0.0) if int(admitted) else (str(kind), float(wait))

    async def charge(self, key_id: str, limits: Any, tokens: int, now: float) -> bool:
        reply = await self._run(key_id, ["charge", repr(float(now)), str(limits.rpm), str(limits.tpm), str(tokens)])
        return reply is not None

    def _degrade(self, exc: BaseException) -> None:
        if self.degraded is not None:
            return
        self.degraded = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:200]
        log.warning(
            "rate limits: Redis at %s is unreachable (%s); each process keeps its own limits until it is back",
            safe_url(self.url),
            self.degraded,
        )
        stale, self._client = self._client, None  # its connections may be broken: a new one
        try:
            self._recovery = asyncio.get_running_loop().create_task(self._recover(stale))
        except RuntimeError:  # no loop: the next check tries Redis again
            self.degraded = None

    async def _recover(self, stale: Any) -> None:
        if stale is not None:
            try:
                await stale.aclose()
            except Exception:
                pass
        while self.degraded is not None:
            await asyncio.sleep(self.retry_interval)
            try:
                self._connect()
                await self._client.ping()
            except Exception:
                continue
            self.degraded = None
            log.warning("rate limits: Redis at %s is reachable again; limits are shared", safe_url(self.url))

    async def close(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.aclose()
            except Exception:
                pass
