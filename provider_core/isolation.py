"""Running plugin code so that its faults stay its own: telling a user's Ctrl-C from a
``KeyboardInterrupt`` that plugin code raised, and saying which plugin is slow.

:class:`InterruptWatch` is a context manager for code that runs foreign code in the main
thread (the registry loading plugins): while it is active, a SIGINT is recorded before
Python's usual ``KeyboardInterrupt`` is raised, so :meth:`InterruptWatch.by_user` can tell
the user's Ctrl-C (re-raise it: the command stops) from a plugin raising
``KeyboardInterrupt`` itself (a fault of that plugin, recorded like any other). Outside the
main thread no signal can raise it, so there it is always the plugin's. When the
application installed its own SIGINT handler the watch stays out of the way and counts
every ``KeyboardInterrupt`` as the user's.

:class:`SlowWatch` warns, from one background thread, when a single plugin takes longer
than ``seconds`` to load (``PROVIDER_CORE_SLOW_PLUGIN_SECONDS``, default 3), naming it, so
that a plugin blocking at import no longer makes every command hang silently.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["DEFAULT_SLOW_SECONDS", "InterruptWatch", "SlowWatch"]

#: Seconds one plugin may take to load before :class:`SlowWatch` names it.
DEFAULT_SLOW_SECONDS = 3.0
ENV_SLOW = "PROVIDER_CORE_SLOW_PLUGIN_SECONDS"


class InterruptWatch:
    """Records whether a real SIGINT arrived while active (see the module docstring)."""

    def __init__(self) -> None:
        self.signalled = False
        self._previous: Any = None
        self._installed = False
        self._main = threading.current_thread() is threading.main_thread()

    def _handler(self, signum: int, frame: Any) -> None:
        self.signalled = True
        raise KeyboardInterrupt

    def __enter__(self) -> InterruptWatch:
        if self._main:
            try:
                previous = signal.getsignal(signal.SIGINT)
                if previous is signal.default_int_handler:
                    signal.signal(signal.SIGINT, self._handler)
                    self._previous, self._installed = previous, True
            except (ValueError, OSError):  # not the main interpreter, or no signals here
                pass
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def by_user(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the user's interrupt (to re-raise), not plugin code's own."""
        if not isinstance(exc, KeyboardInterrupt):
            return False
        if not self._main:
            return False  # no signal raises it outside the main thread
        return self.signalled or not self._installed


class SlowWatch:
    """Calls ``warn(name, seconds)`` once for each plugin that is still loading ``seconds``
    after :meth:`loading` named it; one daemon thread, started at the first plugin."""

    def __init__(self, seconds: float, warn: Callable[[str, float], None]) -> None:
        self.seconds = seconds
        self._warn = warn
        self._cond = threading.Condition(threading.Lock())
        self._current: str | None = None
        self._since = 0.0
        self._turn = 0
        self._done = False
        self._idle = False  # the thread waits with no deadline (only a notify wakes it); none yet
        self._thread: threading.Thread | None = None

    def loading(self, name: str | None) -> None:
        """``name`` starts loading now (``None``: nothing is loading)."""
        with self._cond:
            self._current, self._since, self._turn = name, time.monotonic(), self._turn + 1
            # A thread waiting for an earlier plugin's deadline wakes before this one's and
            # reads the new start then: waking it now would cost a thread switch per plugin
            # (a third of the per-plugin start-up cost with 100 plugins, see bench).
            if self._idle:
                self._cond.notify()
        if self._thread is None and name is not None:
            self._thread = threading.Thread(target=self._watch, name="provider-core-slow-plugin", daemon=True)
            self._thread.start()

    def close(self) -> None:
        with self._cond:
            self._done, self._current = True, None
            self._cond.notify()

    def __enter__(self) -> SlowWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _watch(self) -> None:
        warned = 0
        with self._cond:
            while not self._done:
                if self._current is None or self._turn == warned:
                    self._idle = True
                    self._cond.wait()
                    self._idle = False
                    continue
                left = self._since + self.seconds - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                warned, name = self._turn, self._current
                self._cond.release()
                try:
                    self._warn(name, self.seconds)
                finally:
                    self._cond.acquire()


def slow_seconds(environ: Any) -> float:
    """The :class:`SlowWatch` threshold from ``environ`` (a bad value: the default)."""
    raw = (environ.get(ENV_SLOW) or "").strip()
    try:
        value = float(raw) if raw else DEFAULT_SLOW_SECONDS
    except ValueError:
        return DEFAULT_SLOW_SECONDS
    return value if 0 < value < float("inf") else DEFAULT_SLOW_SECONDS
