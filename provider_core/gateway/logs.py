"""How ``provider-core serve`` logs: uvicorn's format, the gateway's own records beside its
own, every record through the one redaction step, and a log that stays bounded.

* :class:`~provider_core.logfilters.RedactingFilter` on every handler: no key in any line.
* :class:`~provider_core.logfilters.QueryRedactingFilter` on the access log: no query string
  (some clients put ``?api_key=...`` there).
* :class:`RepeatFilter` on the server's log (not the access log): one line repeated word
  for word more than :data:`BURST` times within :data:`WINDOW` seconds is dropped until
  the window ends, then counted in one line ("... (412 more like it suppressed)"). A fault
  that repeats in a tight loop (an ``accept()`` out of file descriptors, say) cannot fill
  the disk.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from typing import Any

__all__ = ["BURST", "WINDOW", "RepeatFilter", "log_config"]

BURST = 5
WINDOW = 60.0


class RepeatFilter(logging.Filter):
    """Let each distinct line through at most :data:`BURST` times per :data:`WINDOW`."""

    def __init__(self, burst: int = BURST, window: float = WINDOW) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], list[float]] = {}  # key -> [window start, count]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.getMessage())
        now = time.monotonic()
        with self._lock:
            entry = self._seen.get(key)
            if entry is None or now - entry[0] >= self.window:
                dropped = int(entry[1]) - self.burst if entry is not None and entry[1] > self.burst else 0
                self._seen[key] = [now, 1]
                if len(self._seen) > 1000:  # many distinct messages: forget the oldest windows
                    for old in [k for k, v in self._seen.items() if now - v[0] >= self.window]:
                        del self._seen[old]
                if dropped:
                    record.msg = f"{key[1]} ({dropped} more like it suppressed in the last {self.window:g} s)"
                    record.args = ()
                return True
            entry[1] += 1
            return entry[1] <= self.burst


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging setup, with the gateway's own log lines (``provider_core.*``:
    failed upstream calls, internal errors) formatted and levelled like uvicorn's, and the
    filters of the module docstring on every handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {
        "redact": {"()": "provider_core.logfilters.RedactingFilter"},
        "no_query": {"()": "provider_core.logfilters.QueryRedactingFilter"},
        "repeat": {"()": "provider_core.gateway.logs.RepeatFilter"},
    }
    for name, handler in config["handlers"].items():
        handler["filters"] = ["redact", "no_query"] if name == "access" else ["redact", "repeat"]
    config["loggers"]["provider_core"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    config["loggers"]["asyncio"] = {"handlers": ["default"], "level": "WARNING", "propagate": False}
    return config
