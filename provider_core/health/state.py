"""The circuit breaker's state machine: a pure function per event over a frozen
:class:`CircuitState`, for one circuit (``now`` comes from the caller's clock, seconds).

* **closed** (``opened_until == 0``): requests flow; each upstream fault adds one to
  ``failures``, a success resets it. At ``config.failures`` faults in a row it opens.
* **open** (``now < opened_until``): routing skips the provider until ``opened_until`` =
  the time of the last fault + ``config.cooldown``, or the longest ``Retry-After`` a
  provider sent during the streak where that is later (capped at ``config.max_cooldown``).
  A fault carrying a ``Retry-After`` opens a closed circuit at once, until that time.
* **half-open** (``now >= opened_until > 0``): the provider is routed again, but only one
  trial request at a time (``claim_trial``; the claim lapses after ``config.trial_timeout``
  if its outcome never comes). A success closes the circuit; a fault re-opens it at once.

A :class:`Transition` is one of these events as data (``failure``, ``success``, ``claim``,
``reset``: what happened to which circuit, when): the backends apply it atomically, the
memory backend with these functions under a lock, the Redis backend as a Lua script that
mirrors them (:mod:`provider_core.health.lua`), and a transition applied locally while
Redis was unreachable is replayed there later, unchanged. Nothing here reads a clock or
does I/O; :class:`~provider_core.health.breaker.CircuitBreaker` feeds them.
"""

from __future__ import annotations

import time
from enum import Enum
from typing import Any, ClassVar, Literal

from ..records import Record

__all__ = [
    "CLOSED_STATE",
    "MAX_ERROR_CHARS",
    "BreakerConfig",
    "Change",
    "CircuitState",
    "Phase",
    "Transition",
    "claim_trial",
    "format_clock",
    "phase",
    "record_failure",
    "record_success",
]

CLOSED_STATE: CircuitState  # defined below

_set = object.__setattr__  # a Record refuses setattr: its own __init__ writes the slots

#: How much of a fault's description a circuit keeps (``last_error``), in characters.
MAX_ERROR_CHARS = 300


class Phase(str, Enum):
    """Where a circuit is: ``closed``, ``open`` or ``half-open``."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class BreakerConfig(Record):
    """Thresholds: ``failures`` upstream faults in a row open the circuit for ``cooldown``
    seconds (a longer ``Retry-After`` wins, up to ``max_cooldown``); a half-open trial
    claim lapses after ``trial_timeout`` seconds. Immutable; a bad value is a ``ValueError``."""

    _fields = ("failures", "cooldown", "max_cooldown", "trial_timeout")
    __slots__ = _fields
    _defaults: ClassVar = {"failures": 3, "cooldown": 60.0, "max_cooldown": 3600.0, "trial_timeout": 60.0}
    failures: int
    cooldown: float
    max_cooldown: float
    trial_timeout: float

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not (isinstance(self.failures, int) and self.failures >= 1):
            raise ValueError(f"failures must be an integer >= 1, got {self.failures!r}")
        for name in ("cooldown", "max_cooldown", "trial_timeout"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 < value < float("inf")):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if self.max_cooldown < self.cooldown:
            raise ValueError(f"max_cooldown ({self.max_cooldown:g}) is shorter than cooldown ({self.cooldown:g})")


class CircuitState(Record):
    """One provider's circuit. Times are clock seconds; ``0`` means unset.

    ``failures``: upstream faults in a row; ``opened_until``: end of the open period (kept
    while half-open); ``trial_until``: end of the current half-open trial claim;
    ``retry_until``: the latest ``Retry-After`` deadline seen in the streak; ``last_error``:
    a one-line description of the last fault; ``changed``: when the state last changed;
    ``suspended``: the streak the last success (a first chunk) ended, restored if that
    same stream then breaks, so a provider whose streams always break still opens.
    """

    _fields = ("failures", "opened_until", "trial_until", "retry_until", "last_error", "changed", "suspended")
    __slots__ = _fields
    _defaults: ClassVar = {
        "failures": 0,
        "opened_until": 0.0,
        "trial_until": 0.0,
        "retry_until": 0.0,
        "last_error": "",
        "changed": 0.0,
        "suspended": 0,
    }
    failures: int
    opened_until: float
    trial_until: float
    retry_until: float
    last_error: str
    changed: float
    suspended: int

    @property
    def clean(self) -> bool:
        """True for a closed circuit with no fault counted (the backends may drop it)."""
        return self.failures == 0 and not self.opened_until and not self.suspended

    def to_dict(self) -> dict[str, Any]:
        return {
            "failures": self.failures,
            "opened_until": self.opened_until,
            "trial_until": self.trial_until,
            "retry_until": self.retry_until,
            "last_error": self.last_error,
            "changed": self.changed,
            "suspended": self.suspended,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CircuitState:
        return cls(
            failures=int(data.get("failures", 0)),
            opened_until=float(data.get("opened_until", 0.0)),
            trial_until=float(data.get("trial_until", 0.0)),
            retry_until=float(data.get("retry_until", 0.0)),
            last_error=str(data.get("last_error", "")),
            changed=float(data.get("changed", 0.0)),
            suspended=int(data.get("suspended", 0)),
        )


CLOSED_STATE = CircuitState()


def phase(state: CircuitState, now: float) -> Phase:
    """The phase of ``state`` at time ``now``."""
    if not state.opened_until:
        return Phase.CLOSED
    return Phase.OPEN if now < state.opened_until else Phase.HALF_OPEN


def record_success(state: CircuitState, now: float) -> CircuitState:
    """A request got its first chunk: the circuit closes and the streak ends (kept aside
    as ``suspended`` in case this very stream breaks)."""
    if not state.failures and not state.opened_until:
        return CLOSED_STATE
    return CircuitState(changed=now, suspended=state.failures)


def record_failure(
    state: CircuitState,
    now: float,
    config: BreakerConfig,
    error: str = "",
    retry_after: float | None = None,
    midstream: bool = False,
) -> CircuitState:
    """An upstream fault: count it, and open (or re-open, from half-open) the circuit.
    A fault that says when to come back (``retry_after``: a 429 or 503 with ``Retry-After``)
    opens a closed circuit at once, until then: the upstream said so. ``midstream``: the
    stream broke after its first chunk, whose success had ended the streak; the streak
    resumes where it was."""
    failures = state.failures + (state.suspended if midstream else 0) + 1
    retry_until = state.retry_until
    asked = retry_after is not None and retry_after > 0
    if asked:
        retry_until = max(retry_until, now + min(float(retry_after), config.max_cooldown))  # type: ignore[arg-type]
    current = phase(state, now)
    if current is Phase.HALF_OPEN or (current is Phase.CLOSED and failures >= config.failures):
        until = max(now + config.cooldown, retry_until)
    elif current is Phase.CLOSED and asked:
        until = retry_until
    elif current is Phase.OPEN:
        until = max(state.opened_until, retry_until)  # e.g. a named call while open
    else:
        until = 0.0
    return CircuitState(failures, until, 0.0, retry_until, error[:MAX_ERROR_CHARS], now)


def claim_trial(state: CircuitState, now: float, config: BreakerConfig) -> tuple[bool, CircuitState]:
    """May a request go to this provider now? Half-open admits one trial at a time."""
    current = phase(state, now)
    if current is Phase.CLOSED:
        return True, state
    if current is Phase.OPEN or state.trial_until > now:
        return False, state
    return True, state.replace(trial_until=now + config.trial_timeout, changed=now)


class Change(Record):
    """What applying a :class:`Transition` did: the circuit ``old`` -> ``new``, and for a
    ``claim`` whether the request may go (``granted``; always ``True`` for the others).

    Made twice per request, so it writes its own ``__init__`` (see :mod:`provider_core.records`)."""

    _fields = ("old", "new", "granted")
    __slots__ = _fields
    old: CircuitState
    new: CircuitState
    granted: bool

    def __init__(self, old: CircuitState, new: CircuitState, granted: bool = True) -> None:
        _set(self, "old", old)
        _set(self, "new", new)
        _set(self, "granted", granted)


Kind = Literal["failure", "success", "claim", "reset"]


class Transition(Record):
    """One event for the circuit ``key`` (an opaque string: never parsed), at ``now``.

    ``failure`` needs ``config`` and may carry ``error``, ``retry_after``, ``midstream``
    (as :func:`record_failure`); ``success`` is :func:`record_success`; ``claim`` needs
    ``config`` (:func:`claim_trial`); ``reset`` closes the circuit and forgets it. Plain data,
    so a backend can send it elsewhere (a Lua script) or keep it to replay later.
    """

    _fields = ("kind", "key", "now", "config", "error", "retry_after", "midstream")
    __slots__ = _fields
    _defaults: ClassVar = {"now": 0.0, "config": None, "error": "", "retry_after": None, "midstream": False}
    kind: Kind
    key: str
    now: float
    config: BreakerConfig | None
    error: str
    retry_after: float | None
    midstream: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.kind not in ("failure", "success", "claim", "reset"):
            raise ValueError(f"unknown transition {self.kind!r}")
        if self.kind in ("failure", "claim") and self.config is None:
            raise ValueError(f"a {self.kind} transition needs the breaker's config")

    def apply(self, state: CircuitState) -> Change:
        """The pure transition from ``state``."""
        if self.kind == "failure":
            assert self.config is not None
            new = record_failure(state, self.now, self.config, self.error, self.retry_after, self.midstream)
            return Change(state, new)
        if self.kind == "success":
            return Change(state, record_success(state, self.now))
        if self.kind == "claim":
            assert self.config is not None
            granted, new = claim_trial(state, self.now, self.config)
            return Change(state, new, granted)
        return Change(state, CLOSED_STATE)


def format_clock(when: float) -> str:
    """``when`` (seconds since the epoch) as local wall-clock time, ``12:03:04``."""
    return time.strftime("%H:%M:%S", time.localtime(when))
