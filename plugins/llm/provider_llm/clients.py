"""The SDK clients an llm model makes for one request, closed when the request ends.

llm's OpenAI-compatible models (its own, and the plugins built on them) make a new SDK
client in every request (``get_client``) and never close it: its HTTP connection stays
open until the garbage collector frees it, even after the caller stopped reading early.
The bridge hands each request its own shallow copy of the model, whose ``get_client``
remembers the clients it makes, and closes them when the reply ends, fails or is closed
early: the connection closes at once and the upstream sees the client go. A model without
``get_client`` (another plugin's) is used as it is.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Clients"]


@dataclass
class Clients:
    """The clients made for one request."""

    made: list[Any] = field(default_factory=list)

    def track(self, model: Any) -> Any:
        """``model``, or its copy remembering the clients it makes."""
        method = getattr(type(model), "get_client", None)
        if model is None or not callable(method):
            return model
        tracked = copy.copy(model)

        def get_client(*args: Any, **kwargs: Any) -> Any:
            client = method(tracked, *args, **kwargs)
            self.made.append(client)
            return client

        tracked.get_client = get_client
        return tracked

    def close(self) -> None:
        """Close the clients (sync ones; an async one's close is left to :meth:`aclose`)."""
        for client in self._take():
            try:
                result = client.close()
            except Exception:
                continue
            if inspect.iscoroutine(result):
                result.close()  # an async client met on the sync path: nothing to await here

    async def aclose(self) -> None:
        """Close the clients, awaiting an async client's close."""
        for client in self._take():
            try:
                result = client.close()
                if inspect.isawaitable(result):
                    await result
            except Exception:
                continue

    def _take(self) -> list[Any]:
        made, self.made = self.made, []
        return made
