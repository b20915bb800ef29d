"""The Redis side of the circuit breaker: each transition of :mod:`provider_core.health.state`
written again as one Lua script, which Redis runs atomically, and the encoding of their
arguments and replies. Pure text and data: nothing here imports redis-py.

Layout, for a prefix ``P`` (see docs/health.md):

* ``P:circuit:{key}``: one hash per circuit, the fields of
  :class:`~provider_core.health.state.CircuitState`; numbers are written with 17
  significant digits, so every float reads back bit for bit. The key after
  ``P:circuit:`` is the circuit's key as given, never parsed. A clean circuit (closed,
  nothing counted) has no entry. Each entry expires (``PEXPIRE``) ``retention`` seconds
  after its last change, or after the end of its open period or trial claim if later.
* ``P:circuit-index``: a set of the circuit keys that have an entry, so that one script
  call returns every circuit under the prefix without scanning the keyspace; it expires
  with its longest-lived entry, and members whose entry expired are dropped when read.

The scripts mirror the Python functions line for line, in the same double-precision
arithmetic; ``tests/health/test_redis_lua.py`` checks that both give the same states for
any sequence of events. The fetch and clear scripts reach the circuit keys named in the
index, so they need a standalone Redis (or one primary), not Redis Cluster.
"""

from __future__ import annotations

from typing import Any

from .state import MAX_ERROR_CHARS, Change, CircuitState, Transition

__all__ = [
    "CLEAR",
    "FETCH",
    "FIELDS",
    "TRANSITIONS",
    "decode_change",
    "decode_states",
    "transition_args",
]

#: The hash fields of a circuit, in the order the scripts return them.
FIELDS = ("failures", "opened_until", "trial_until", "retry_until", "last_error", "changed", "suspended")

_FUNCTIONS = r"""
local function closed()
  return {failures = 0, opened_until = 0, trial_until = 0, retry_until = 0,
          last_error = '', changed = 0, suspended = 0}
end

-- A missing, corrupt or foreign entry counts as a closed circuit.
local function load(key)
  local ok, raw = pcall(redis.call, 'HGETALL', key)
  if not ok or #raw == 0 then return closed() end
  local h = {}
  for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
  local s = {last_error = h.last_error or ''}
  for _, f in ipairs({'failures', 'opened_until', 'trial_until', 'retry_until', 'changed', 'suspended'}) do
    local v = tonumber(h[f] or '0')
    if v == nil or v ~= v or v == math.huge or v == -math.huge then return closed() end
    s[f] = v
  end
  if s.failures < 0 or s.failures ~= math.floor(s.failures) or s.failures > 1e15
     or s.suspended < 0 or s.suspended ~= math.floor(s.suspended) or s.suspended > 1e15 then
    return closed()
  end
  return s
end

local function clean(s)
  return s.failures == 0 and s.opened_until == 0 and s.suspended == 0
end

local function num(x) return string.format('%.17g', x) end
local function int(x) return string.format('%d', x) end

local function encode(s)
  return {int(s.failures), num(s.opened_until), num(s.trial_until), num(s.retry_until),
          s.last_error, num(s.changed), int(s.suspended)}
end

local function phase(s, now)
  if s.opened_until == 0 then return 'closed' end
  if now < s.opened_until then return 'open' end
  return 'half-open'
end
"""

_COMMON = (
    _FUNCTIONS
    + r"""
-- KEYS[1]: the circuit's hash, KEYS[2]: the index; ARGV[1]: the circuit's key (the index
-- member), ARGV[2]: retention (s), ARGV[3]: now (s); the transition's own from ARGV[4].
local name, retention, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

local function save(s)
  if clean(s) then
    redis.call('DEL', KEYS[1])
    redis.call('SREM', KEYS[2], name)
    return
  end
  local ttl = math.ceil((math.max(s.opened_until, s.trial_until, s.changed) + retention - now) * 1000)
  if ttl < 1 then ttl = 1 end
  local e = encode(s)
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'failures', e[1], 'opened_until', e[2], 'trial_until', e[3],
             'retry_until', e[4], 'last_error', e[5], 'changed', e[6], 'suspended', e[7])
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('SADD', KEYS[2], name)
  if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
end

local function reply(granted, old, new)
  return {granted and 1 or 0, encode(old), encode(new)}
end

local s = load(KEYS[1])
"""
)

# record_failure: ARGV[4..9] = failures threshold, cooldown, max_cooldown, error, retry_after
# ('' for none), midstream ('1' or '0').
_FAILURE = r"""
local threshold, cooldown, max_cooldown = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local retry_after = tonumber(ARGV[8])
local failures = s.failures + (ARGV[9] == '1' and s.suspended or 0) + 1
local retry_until = s.retry_until
local asked = retry_after ~= nil and retry_after > 0
if asked then retry_until = math.max(retry_until, now + math.min(retry_after, max_cooldown)) end
local current = phase(s, now)
local opened_until = 0
if current == 'half-open' or (current == 'closed' and failures >= threshold) then
  opened_until = math.max(now + cooldown, retry_until)
elseif current == 'closed' and asked then
  opened_until = retry_until
elseif current == 'open' then
  opened_until = math.max(s.opened_until, retry_until)
end
local new = {failures = failures, opened_until = opened_until, trial_until = 0, retry_until = retry_until,
             last_error = ARGV[7], changed = now, suspended = 0}
save(new)
return reply(true, s, new)
"""

# record_success
_SUCCESS = r"""
local new = closed()
if not (s.failures == 0 and s.opened_until == 0) then
  new.changed = now
  new.suspended = s.failures
end
save(new)
return reply(true, s, new)
"""

# claim_trial: ARGV[4] = trial_timeout. An unchanged circuit is not written.
_CLAIM = r"""
local current = phase(s, now)
if current == 'closed' then return reply(true, s, s) end
if current == 'open' or s.trial_until > now then return reply(false, s, s) end
local new = {}
for k, v in pairs(s) do new[k] = v end
new.trial_until = now + tonumber(ARGV[4])
new.changed = now
save(new)
return reply(true, s, new)
"""

_RESET = r"""
local new = closed()
save(new)
return reply(true, s, new)
"""

#: The transition scripts, by :attr:`Transition.kind`.
TRANSITIONS = {
    "failure": _COMMON + _FAILURE,
    "success": _COMMON + _SUCCESS,
    "claim": _COMMON + _CLAIM,
    "reset": _COMMON + _RESET,
}

#: Every circuit under the prefix, in one call: KEYS[1] the index, ARGV[1] the prefix of
#: the circuit keys (``P:circuit:``). Returns ``[key, fields, key, fields, ...]``; drops
#: the index members whose entry has expired.
FETCH = (
    _FUNCTIONS
    + r"""
local out = {}
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. name
  if redis.call('EXISTS', key) == 0 then
    redis.call('SREM', KEYS[1], name)
  else
    local s = load(key)
    if not clean(s) then
      out[#out + 1] = name
      out[#out + 1] = encode(s)
    end
  end
end
return out
"""
)

#: Forget every circuit under the prefix: KEYS[1] the index, ARGV[1] the key prefix.
CLEAR = r"""
local names = redis.call('SMEMBERS', KEYS[1])
for _, name in ipairs(names) do redis.call('DEL', ARGV[1] .. name) end
redis.call('DEL', KEYS[1])
return #names
"""


def _number(value: float | None) -> str:
    """``value`` as Lua's ``tonumber`` reads it back exactly ('' for ``None``)."""
    return "" if value is None else repr(float(value))


def transition_args(transition: Transition, retention: float) -> list[str]:
    """ARGV for the script of ``transition`` (after the two keys)."""
    head = [transition.key, _number(retention), _number(transition.now)]
    config = transition.config
    if transition.kind == "failure":
        assert config is not None
        return [
            *head,
            str(config.failures),
            _number(config.cooldown),
            _number(config.max_cooldown),
            transition.error[:MAX_ERROR_CHARS],
            _number(transition.retry_after),
            "1" if transition.midstream else "0",
        ]
    if transition.kind == "claim":
        assert config is not None
        return [*head, _number(config.trial_timeout)]
    return head


def _state(fields: list[Any]) -> CircuitState:
    return CircuitState.from_dict(dict(zip(FIELDS, fields, strict=True)))


def decode_change(reply: list[Any]) -> Change:
    """A transition script's reply, ``[granted, old fields, new fields]``."""
    granted, old, new = reply
    return Change(_state(old), _state(new), bool(int(granted)))


def decode_states(reply: list[Any]) -> dict[str, CircuitState]:
    """The fetch script's reply: the circuits that are not clean, by key (the scripts
    have already read a corrupt entry as a closed circuit)."""
    return {str(reply[i]): _state(reply[i + 1]) for i in range(0, len(reply) - 1, 2)}
