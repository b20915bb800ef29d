"""Another process sharing circuits through Redis, for the tests (``conftest.Worker``).

    python redis_worker.py URL PREFIX NOW FAILURES SYNC

A :class:`CircuitBreaker` over a :class:`RedisBackend` on a fixed clock (``NOW``), its
threshold ``FAILURES``, refreshing every ``SYNC`` seconds. It prints ``{"ready": true}``
once its local copy is loaded, then answers each command on stdin with one JSON line:

* ``fail NAME N``: count N upstream faults against NAME -> ``{"seen": [failures after each]}``
* ``state NAME``: reload the copy, then -> ``{"state": {...}, "degraded": bool, "pending": int}``
* ``shared``: wait (at most 60 s) until Redis is in use and nothing is left to replay -> ``{"ok": bool}``
* ``quit``: close the backend -> ``{"ok": true}``

Warnings (the one that says Redis is unreachable) go to stderr.
"""

from __future__ import annotations

import json
import sys
import threading

from provider_core.health import BreakerConfig, CircuitBreaker
from provider_core.health.redis_backend import RedisBackend


def main() -> None:
    url, prefix, now, failures, sync = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    backend = RedisBackend(url, prefix=prefix, timeout=5, sync_interval=float(sync))
    breaker = CircuitBreaker(backend, BreakerConfig(failures=failures), clock=lambda: now)
    breaker.phase("-")  # loads the copy and starts the sync thread

    def reply(data: object) -> None:
        sys.stdout.write(json.dumps(data) + "\n")
        sys.stdout.flush()

    reply({"ready": True})
    for line in sys.stdin:
        command, *args = line.split()
        if command == "fail":
            name, count = args[0], int(args[1])
            reply({"seen": [breaker.failure(name, f"fault {i} from a worker").failures for i in range(count)]})
        elif command == "state":
            backend.refresh()
            state = breaker.state(args[0]).to_dict()
            reply({"state": state, "degraded": backend.degraded is not None, "pending": backend.pending})
        elif command == "shared":
            idle = threading.Event()
            for _ in range(3000):
                if backend.degraded is None and not backend.pending:
                    break
                idle.wait(0.02)
            reply({"ok": backend.degraded is None and not backend.pending})
        elif command == "quit":
            backend.close()
            reply({"ok": True})
            return


if __name__ == "__main__":
    main()
