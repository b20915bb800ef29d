"""The circuit breaker: a pure state machine over :class:`CircuitState`, and the
:class:`CircuitBreaker` that keeps one state per provider in a backend.

States, for one provider (``now`` comes from an injectable clock, seconds):

* **closed** (``opened_until == 0``): requests flow; each upstream fault adds one to
  ``failures``, a success resets it. At ``config.failures`` faults in a row it opens.
* **open** (``now < opened_until``): routing skips the provider until ``opened_until`` =
  the time of the last fault + ``config.cooldown``, or the longest ``Retry-After`` a
  provider sent during the streak where that is later (capped at ``config.max_cooldown``).
  A fault carrying a ``Retry-After`` opens a closed circuit at once, until that time.
* **half-open** (``now >= opened_until > 0``): the provider is routed again, but only one
  trial request at a time (``claim_trial``; the claim lapses after ``config.trial_timeout``
  if its outcome never comes). A success closes the circuit; a fault re-opens it at once.

The functions here never read a clock or do I/O: the backends apply them atomically
(:mod:`provider_core.health.backends`, :mod:`provider_core.health.redis_backend`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Protocol

from ..errors import EmptyResponse, InvalidMessages, ModelNotSupported, ProviderNotFound, StreamInterrupted, summary

__all__ = [
    "BreakerConfig",
    "CircuitBreaker",
    "CircuitState",
    "Phase",
    "StateBackend",
    "claim_trial",
    "format_clock",
    "is_upstream_fault",
    "phase",
    "record_failure",
    "record_success",
]

CLOSED_STATE: CircuitState  # defined below


class Phase(str, Enum):
    """Where a circuit is: ``closed``, ``open`` or ``half-open``."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True)
class BreakerConfig:
    """Thresholds: ``failures`` upstream faults in a row open the circuit for ``cooldown``
    seconds (a longer ``Retry-After`` wins, up to ``max_cooldown``); a half-open trial
    claim lapses after ``trial_timeout`` seconds."""

    failures: int = 3
    cooldown: float = 60.0
    max_cooldown: float = 3600.0
    trial_timeout: float = 60.0

    def __post_init__(self) -> None:
        if not (isinstance(self.failures, int) and self.failures >= 1):
            raise ValueError(f"failures must be an integer >= 1, got {self.failures!r}")
        for name in ("cooldown", "max_cooldown", "trial_timeout"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 < value < float("inf")):
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if self.max_cooldown < self.cooldown:
            raise ValueError(f"max_cooldown ({self.max_cooldown:g}) is shorter than cooldown ({self.cooldown:g})")


@dataclass(frozen=True)
class CircuitState:
    """One provider's circuit. Times are clock seconds; ``0`` means unset.

    ``failures``: upstream faults in a row; ``opened_until``: end of the open period (kept
    while half-open); ``trial_until``: end of the current half-open trial claim;
    ``retry_until``: the latest ``Retry-After`` deadline seen in the streak; ``last_error``:
    a one-line description of the last fault; ``changed``: when the state last changed;
    ``suspended``: the streak the last success (a first chunk) ended, restored if that
    same stream then breaks, so a provider whose streams always break still opens.
    """

    failures: int = 0
    opened_until: float = 0.0
    trial_until: float = 0.0
    retry_until: float = 0.0
    last_error: str = ""
    changed: float = 0.0
    suspended: int = 0

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
    return CircuitState(failures, until, 0.0, retry_until, error[:300], now)


def claim_trial(state: CircuitState, now: float, config: BreakerConfig) -> tuple[bool, CircuitState]:
    """May a request go to this provider now? Half-open admits one trial at a time."""
    current = phase(state, now)
    if current is Phase.CLOSED:
        return True, state
    if current is Phase.OPEN or state.trial_until > now:
        return False, state
    return True, replace(state, trial_until=now + config.trial_timeout, changed=now)


def is_upstream_fault(error: BaseException) -> bool:
    """Whether ``error`` counts against a provider: the faults a caller cannot provoke with a
    request the core accepts. Timeouts, refused and reset connections, 5xx, 429, 401/403
    (the provider's own credentials), broken streams and providers that raise count. A
    caller's bad request (``fallback_ok`` false: invalid messages, HTTP 400/413/422, an
    upstream error event that calls the request invalid), an unknown model and an empty
    reply do not: an upstream with nothing to say to one conversation (say, one made only of
    assistant turns) is no sign that it is down, and counting it would let one caller open
    the circuit for everyone."""
    if isinstance(error, StreamInterrupted):
        return True
    if isinstance(error, (InvalidMessages, ModelNotSupported, ProviderNotFound, EmptyResponse)):
        return False
    return bool(getattr(error, "fallback_ok", True))


def _after_first_chunk(error: BaseException) -> bool:
    """A :class:`StreamInterrupted` from routing: text had reached the caller."""
    return isinstance(error, StreamInterrupted) and error.received_chars > 0


def format_clock(when: float) -> str:
    """``when`` (seconds since the epoch) as local wall-clock time, ``12:03:04``."""
    return time.strftime("%H:%M:%S", time.localtime(when))


class StateBackend(Protocol):
    """Where circuit states live. ``get`` must be cheap (no I/O on the routing path);
    ``update`` applies a pure transition atomically and returns ``(old, new)``."""

    def get(self, key: str) -> CircuitState | None: ...

    def update(self, key: str, change: Callable[[CircuitState], CircuitState]) -> tuple[CircuitState, CircuitState]: ...

    def items(self) -> dict[str, CircuitState]: ...

    def clear(self) -> None: ...

    def close(self) -> None: ...


class CircuitBreaker:
    """Per-provider circuits (keyed by lower-cased name) over a :class:`StateBackend`.

    ``clock`` returns seconds since the epoch (default :func:`time.time`; tests inject a
    fake). ``on_change(after)`` is called with ``None`` when some circuit changed, or
    with a number of clock seconds after which an answer will change by itself (an open
    circuit turning half-open): the plugin forwards it to the registry's route cache.
    """

    def __init__(
        self,
        backend: StateBackend | None = None,
        config: BreakerConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[float | None], None] | None = None,
    ) -> None:
        if backend is None:
            from .backends import MemoryBackend

            backend = MemoryBackend()
        self.backend = backend
        self.config = config or BreakerConfig()
        self.clock = clock
        self.on_change = on_change
        set_listener = getattr(backend, "set_listener", None)
        if set_listener is not None:  # a shared backend learns of changes made elsewhere
            set_listener(self._changed_elsewhere)

    def _changed_elsewhere(self) -> None:
        if self.on_change is not None:
            self.on_change(None)

    def _changed(self, old: CircuitState, new: CircuitState) -> CircuitState:
        """Tell ``on_change`` when routing's answer may differ: only the open and trial
        deadlines decide it (a fault counted in a closed circuit changes nothing)."""
        if self.on_change is not None and (old.opened_until, old.trial_until) != (new.opened_until, new.trial_until):
            self.on_change(None)
        return new

    def state(self, name: str) -> CircuitState:
        """The circuit of provider ``name`` (a closed one when nothing is recorded)."""
        return self.backend.get(name.lower()) or CLOSED_STATE

    def phase(self, name: str) -> Phase:
        return phase(self.state(name), self.clock())

    def blocked(self, name: str) -> bool:
        """True while routing should skip ``name``: open, or half-open with a trial in flight.
        The fast path (nothing recorded for ``name``) is one dictionary lookup."""
        state = self.backend.get(name.lower())
        if state is None or not state.opened_until:
            return False
        now = self.clock()
        if now < state.opened_until:
            self._expire_in(state.opened_until - now)
            return True
        if state.trial_until > now:
            self._expire_in(state.trial_until - now)
            return True
        return False

    def _expire_in(self, seconds: float) -> None:
        if self.on_change is not None:
            self.on_change(seconds)

    def allow(self, name: str) -> bool:
        """May a routed request go to ``name`` now? Claims the half-open trial when it is free."""
        state = self.backend.get(name.lower())
        if state is None or not state.opened_until:
            return True
        now = self.clock()
        if phase(state, now) is Phase.OPEN or state.trial_until > now:
            return False
        decision: list[bool] = []

        def claim(current: CircuitState) -> CircuitState:
            decision[:] = []
            ok, new = claim_trial(current, now, self.config)
            decision.append(ok)
            return new

        old, new = self.backend.update(name.lower(), claim)
        self._changed(old, new)
        return bool(decision and decision[0])

    def success(self, name: str) -> None:
        """The provider answered (its first chunk arrived)."""
        state = self.backend.get(name.lower())
        if state is None or state.clean:
            return  # nothing to forget: no write on the hot path
        now = self.clock()
        self._changed(*self.backend.update(name.lower(), lambda s: record_success(s, now)))

    def failure(
        self, name: str, error: str = "", retry_after: float | None = None, *, midstream: bool = False
    ) -> CircuitState:
        """Count one upstream fault against ``name`` (``midstream``: after its first chunk);
        returns the new state."""
        now = self.clock()
        old, new = self.backend.update(
            name.lower(), lambda s: record_failure(s, now, self.config, error, retry_after, midstream)
        )
        return self._changed(old, new)

    def record(self, name: str, error: BaseException | None) -> None:
        """Feed one outcome: ``None`` is a success; an upstream fault counts; other errors
        (the caller's bad request) are ignored."""
        if error is None:
            self.success(name)
        elif is_upstream_fault(error):
            midstream = _after_first_chunk(error)
            cause = error.__cause__ if midstream and error.__cause__ is not None else error
            self.failure(name, summary(cause, 200), getattr(cause, "retry_after", None), midstream=midstream)

    def reason(self, name: str) -> str | None:
        """Why ``name`` is skipped, e.g. ``circuit open until 12:03:04 (3 failures in a
        row; last: ProviderTimeout: ...)``; ``None`` when it is not."""
        state = self.backend.get(name.lower())
        if state is None or not state.opened_until:
            return None
        now = self.clock()
        detail = f"{state.failures} failure{'s' if state.failures != 1 else ''} in a row"
        if state.last_error:
            detail += f"; last: {state.last_error}"
        if now < state.opened_until:
            return f"circuit open until {format_clock(state.opened_until)} ({detail})"
        if state.trial_until > now:
            return f"circuit half-open: a trial request is in flight ({detail})"
        return None

    def reset(self, name: str | None = None) -> None:
        """Close one circuit (or all) and forget its faults."""
        if name is None:
            self.backend.clear()
            if self.on_change is not None:
                self.on_change(None)
        else:
            self._changed(*self.backend.update(name.lower(), lambda s: CLOSED_STATE))

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every recorded circuit: ``{name: {"phase": ..., **state}}`` (for ``probe --json``)."""
        now = self.clock()
        return {
            key: {"phase": phase(state, now).value, **state.to_dict()}
            for key, state in sorted(self.backend.items().items())
        }
