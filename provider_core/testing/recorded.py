"""What the loopback server records of each request it receives.

Only the standard library is imported.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OUTCOMES", "RecordedRequest"]

#: How a reply ended, as recorded in :attr:`RecordedRequest.outcome`.
OUTCOMES = ("pending", "complete", "reset", "closed", "client-gone", "stopped")


@dataclass
class RecordedRequest:
    """One request as the server received it.

    ``headers`` maps lower-cased names to values (repeated headers joined with ``", "``);
    ``raw_headers`` keeps the names as sent, in order. ``body`` is the raw body (a chunked
    request body is de-chunked); ``json`` is the body parsed as JSON, or ``None`` when it is
    not JSON. ``connection`` numbers the TCP connections in the order the server accepted
    them (1, 2, ...): requests that share a number came over one kept-alive connection.
    ``outcome`` says how the reply ended (see :data:`OUTCOMES`); ``done`` is set then.
    ``hold_expired`` is set when the reply's :attr:`~provider_core.testing.reply.Reply.hold`
    ended by its timeout rather than its event, before the rest of the body is sent: a
    client that had to wait for the end of the reply sees it already true.
    """

    method: str
    path: str
    headers: dict[str, str]
    raw_headers: list[tuple[str, str]]
    body: bytes
    connection: int
    client: tuple[str, int]
    outcome: str = "pending"
    body_bytes_sent: int = 0
    hold_expired: bool = False
    done: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")
