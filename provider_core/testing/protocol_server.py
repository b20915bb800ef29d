"""The life cycle a vendor's loopback protocol server shares: a base class for plugin authors.

A protocol server (the OpenAI, Anthropic and Gemini plugins each ship one) answers a
vendor's API on 127.0.0.1 with what the vendor would send: echoes, model listings, errors.
Tests script it by queueing :class:`~provider_core.testing.server.Reply` objects for the
generation endpoint. What every such server has in common lives here, once:

- it wraps a :class:`~provider_core.testing.server.LoopbackServer` (:attr:`server`) whose
  handler is the subclass's :meth:`handle`;
- :meth:`start` / :meth:`stop`, and use as a context manager;
- :attr:`url` (``http://127.0.0.1:PORT``; a subclass may add its API's prefix);
- :meth:`enqueue` for the next generation requests, and :meth:`next_queued` for the
  subclass to take the next one (``None`` when the queue is empty: answer as the vendor
  would);
- :attr:`requests`, every request received.

A subclass implements ``handle(request) -> Reply`` and passes its own options to
``super().__init__`` (``validator``, ``port``, ``idle_timeout``, as :class:`LoopbackServer`
takes them). :func:`echo_main` is the ``python -m PACKAGE.server`` command of such a
server. Only the standard library is imported.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .server import LoopbackServer, RecordedRequest, Reply, Validator

__all__ = ["ProtocolServer", "echo_main"]

_Self = TypeVar("_Self", bound="ProtocolServer")


class ProtocolServer:
    """Base of a vendor's loopback protocol server; see the module's docstring."""

    def __init__(self, *, validator: Validator | None = None, port: int = 0, idle_timeout: float = 30.0) -> None:
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self.server = LoopbackServer(self.handle, validator=validator, port=port, idle_timeout=idle_timeout)

    def handle(self, request: RecordedRequest) -> Reply:
        """The answer to ``request`` (every request the validator let through)."""
        raise NotImplementedError

    def start(self: _Self) -> _Self:
        """Bind and serve; returns ``self``."""
        self.server.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection. Idempotent."""
        self.server.stop()

    def __enter__(self: _Self) -> _Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return self.server.url

    def enqueue(self, *replies: Reply) -> None:
        """Queue replies for the next generation requests, in order."""
        with self._lock:
            self._queue.extend(replies)

    def next_queued(self) -> Reply | None:
        """The next queued reply, taken off the queue; ``None`` when none is queued."""
        with self._lock:
            return self._queue.popleft() if self._queue else None

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in arrival order, listings included."""
        return self.server.requests


def echo_main(argv: Sequence[str] | None, *, prog: str, what: str, make: Callable[[list[str] | None, int], Any]) -> int:
    """``python -m PACKAGE.server [--port N] [--model ID]...``: ``make(models, port)`` (a
    :class:`ProtocolServer` echoing the last user message; ``models`` ``None`` when none is
    given) served until interrupted, after one line on stdout: ``serving N model(s) at URL``.
    ``what`` completes the help text ("A loopback ``what`` that echoes ...")."""
    import argparse

    parser = argparse.ArgumentParser(prog=prog, description=f"A loopback {what} that echoes the last user message.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--model", action="append", dest="models", help="a model id to serve (repeatable)")
    args = parser.parse_args(argv)
    server = make(args.models, args.port)
    with server:
        print(f"serving {len(server.models)} model(s) at {server.url} (Ctrl-C to stop)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0
