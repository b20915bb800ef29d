"""Thought signatures of recent function calls, so a replayed call can carry its own.

Gemini 3 attaches an opaque ``thoughtSignature`` to the first function call of a reply and
wants it back, unchanged, when the conversation is sent again. OpenAI-shaped messages
have no place for it, so the provider remembers ``call id -> signature`` here when a
reply arrives, and :func:`provider_gemini.protocol.build_body` looks the ids of replayed
``tool_calls`` up. A call that is not found (another process, an evicted entry, a history
from another provider) gets Google's documented placeholder instead.

Bounded (least recently used entries go first) and safe to share between threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["DEFAULT_CAPACITY", "MEMORY", "SignatureMemory"]

DEFAULT_CAPACITY = 4096


class SignatureMemory:
    """A thread-safe LRU map of tool-call id to thought signature."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, call_id: str, signature: str) -> None:
        """Keep ``signature`` for the call ``call_id`` (evicting the oldest when full)."""
        with self._lock:
            self._entries[call_id] = signature
            self._entries.move_to_end(call_id)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def recall(self, call_id: str) -> str | None:
        """The signature kept for ``call_id``, or ``None``."""
        with self._lock:
            signature = self._entries.get(call_id)
            if signature is not None:
                self._entries.move_to_end(call_id)
            return signature

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


#: The signatures of the function calls received in this process.
MEMORY = SignatureMemory()
