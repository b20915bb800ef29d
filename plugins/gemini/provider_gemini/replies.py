"""The reply side of the Gemini API wire format: ``GenerateContentResponse`` objects in,
provider-core events out. Pure; no I/O.

A streamed reply is a series of complete ``GenerateContentResponse`` objects (one per SSE
frame, no end marker); a non-streamed one is a single such object. :class:`ReplyState`
reads either, frame by frame:

* ``candidates[0].content.parts``: ``text`` parts become text, ``functionCall`` parts whole
  :class:`~provider_core.events.ToolCall` objects (Gemini's ``id`` when it sends one, else a
  fresh ``call_`` + 24 hex digits), parts marked ``thought: true`` are skipped;
* ``finishReason``: see :data:`FINISH_REASONS`; a reply that called a function finishes
  with ``tool_calls``; any other reason (``OTHER``, ``MALFORMED_FUNCTION_CALL``, ...) with
  ``stop``;
* ``usageMetadata`` of the last frame that has one: prompt = ``promptTokenCount``,
  completion = ``candidatesTokenCount`` + ``thoughtsTokenCount`` (thinking is billed as
  output), total = their sum;
* ``promptFeedback.blockReason`` with no candidate: the prompt was blocked.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from provider_core.errors import EmptyResponse
from provider_core.events import FinishReason, ToolCall, Usage

from .wire_errors import ContentFiltered

__all__ = [
    "FINISH_REASONS",
    "ReplyState",
    "map_finish_reason",
    "new_call_id",
    "parse_model_page",
    "usage_of",
]

_FILTERED = (
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "LANGUAGE",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
    "MODEL_ARMOR",
    "ESCALATION",
    "PUP_LIMITED_DISABLED",
)
#: Gemini ``finishReason`` -> provider-core finish reason (others: ``stop``).
FINISH_REASONS: dict[str, str] = {"STOP": "stop", "MAX_TOKENS": "length", "CONTINUATION": "length"}
FINISH_REASONS.update(dict.fromkeys(_FILTERED, "content_filter"))


def new_call_id() -> str:
    """A tool-call id for a call Gemini sent without one: ``call_`` + 24 hex digits."""
    return "call_" + secrets.token_hex(12)


def map_finish_reason(reason: str, called: bool) -> str:
    """The provider-core finish reason for Gemini's ``reason``; ``called``: the reply
    holds at least one function call."""
    return "tool_calls" if called else FINISH_REASONS.get(reason, "stop")


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_of(metadata: Any) -> Usage | None:
    """Token counts from ``usageMetadata`` (``None`` when it holds no count)."""
    if not isinstance(metadata, Mapping):
        return None
    keys = ("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount")
    if not any(key in metadata for key in keys):
        return None
    prompt = _count(metadata.get("promptTokenCount"))
    return Usage(prompt, _count(metadata.get("candidatesTokenCount")) + _count(metadata.get("thoughtsTokenCount")))


def _first_candidate(payload: dict[str, Any]) -> dict[str, Any] | None:
    candidates = payload.get("candidates")
    for candidate in candidates if isinstance(candidates, list) else ():
        if isinstance(candidate, dict) and candidate.get("index", 0) == 0:
            return candidate
    return None


class ReplyState:
    """One reply, read frame by frame with :meth:`feed`; :meth:`closing_events` gives the
    usage and finish reason once it is complete. ``new_id`` makes call ids (for tests).

    After a frame, :attr:`signatures` lists the ``(call id, thought signature)`` pairs of
    the calls that came with one (the provider remembers them for the next turn).
    """

    def __init__(self, new_id: Callable[[], str] = new_call_id) -> None:
        self._new_id = new_id
        self.text_chars = 0
        self.calls = 0
        self.gemini_finish: str | None = None
        self.block_reason: str | None = None
        self._usage: Any = None  # the last usageMetadata seen (read when the reply ends)
        self.signatures: list[tuple[str, str]] = []

    def text_of(self, payload: dict[str, Any]) -> str | None:
        """The text of the usual streamed frame, counted (and its usage snapshot kept): one
        candidate (index 0, no finish reason) whose content is one non-empty plain text
        part, and no prompt feedback. ``None`` for any other frame, which is left
        untouched: read it with :meth:`feed`. The stream's hot path."""
        try:
            (candidate,) = payload["candidates"]
            (part,) = candidate["content"]["parts"]
            text = part["text"]
        except (KeyError, TypeError, ValueError):  # not the usual frame: feed() reads it
            return None
        if (
            text.__class__ is not str
            or not text
            or "thought" in part
            or "finishReason" in candidate
            or candidate.get("index", 0) != 0
            or "promptFeedback" in payload
        ):
            return None
        usage = payload.get("usageMetadata")
        if usage:
            self._usage = usage
        self.text_chars += len(text)
        return text

    def feed(self, payload: Any) -> list[str | ToolCall]:
        """The text pieces and tool calls of one ``GenerateContentResponse``, in order.
        Raises ``ValueError`` for a frame that is not a JSON object or holds a function
        call without a name. (Parsed JSON holds plain ``dict`` objects: checking for them,
        not ``Mapping``, keeps this fast.)"""
        if not isinstance(payload, dict):
            raise ValueError(f"a reply must be a JSON object, got {type(payload).__name__}")
        usage = payload.get("usageMetadata")
        if usage:
            self._usage = usage
        feedback = payload.get("promptFeedback")
        if isinstance(feedback, dict) and isinstance(feedback.get("blockReason"), str):
            self.block_reason = feedback["blockReason"]
        candidates = payload.get("candidates")
        if not candidates or not isinstance(candidates, list):
            return []
        candidate = candidates[0]  # the usual case: one candidate, index 0
        if len(candidates) > 1 or not isinstance(candidate, dict) or candidate.get("index", 0) != 0:
            candidate = _first_candidate(payload)
            if candidate is None:
                return []
        finish = candidate.get("finishReason")
        if finish and isinstance(finish, str):
            self.gemini_finish = finish
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        if parts.__class__ is list and len(parts) == 1:  # the usual frame: one text part
            part = parts[0]
            text = part.get("text") if part.__class__ is dict else None
            if text and text.__class__ is str and part.get("thought") is not True:
                self.text_chars += len(text)
                return [text]
        out: list[str | ToolCall] = []
        for part in parts if isinstance(parts, list) else ():
            if not isinstance(part, dict) or part.get("thought") is True:
                continue
            text = part.get("text")
            if text and isinstance(text, str):
                self.text_chars += len(text)
                out.append(text)
                continue
            call = part.get("functionCall")
            if isinstance(call, dict):
                out.append(self._tool_call(call, part.get("thoughtSignature")))
        return out

    def _tool_call(self, call: Mapping[str, Any], signature: Any) -> ToolCall:
        name = call.get("name")
        if not name or not isinstance(name, str):
            raise ValueError("a functionCall part without a function name")
        call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else self._new_id()
        args = call.get("args")
        if isinstance(signature, str) and signature:
            self.signatures.append((call_id, signature))
        self.calls += 1
        return ToolCall(call_id, name, json.dumps(args if isinstance(args, Mapping) else {}, ensure_ascii=False))

    @property
    def usage(self) -> Usage | None:
        """The token counts of the last frame that reported them."""
        return usage_of(self._usage)

    @property
    def finished(self) -> bool:
        """Whether a frame carried a ``finishReason`` or a prompt ``blockReason`` (the
        stream's end is then expected)."""
        return self.gemini_finish is not None or self.block_reason is not None

    @property
    def finish_reason(self) -> str:
        return map_finish_reason(self.gemini_finish or "", self.calls > 0)

    @property
    def empty(self) -> bool:
        """Neither text nor a function call arrived."""
        return self.text_chars == 0 and self.calls == 0

    def closing_events(self) -> list[Usage | FinishReason]:
        """The usage (if reported) and the finish reason, last."""
        usage = self.usage
        events: list[Usage | FinishReason] = [] if usage is None else [usage]
        events.append(FinishReason(self.finish_reason))
        return events

    def empty_error(self, provider: str) -> EmptyResponse:
        """The error for a reply that was :attr:`empty`: :class:`ContentFiltered` when a
        filter blocked the prompt or the reply, else :class:`EmptyResponse`."""
        if self.block_reason:
            text = f"{provider}: the prompt was blocked (promptFeedback.blockReason {self.block_reason})"
            return ContentFiltered(text, provider=provider, reason=self.block_reason)
        if self.gemini_finish and FINISH_REASONS.get(self.gemini_finish) == "content_filter":
            text = f"{provider}: the reply was blocked before any text (finishReason {self.gemini_finish})"
            return ContentFiltered(text, provider=provider, reason=self.gemini_finish)
        why = f"finishReason {self.gemini_finish}" if self.gemini_finish else "no finishReason"
        return EmptyResponse(f"{provider}: the reply had no text and no function call ({why})", provider=provider)


def parse_model_page(payload: Any) -> tuple[list[str], str | None]:
    """``(model ids, next page token)`` of one ``GET /v1beta/models`` page: the ``models/``
    prefix is stripped and only models whose ``supportedGenerationMethods`` include
    ``generateContent`` are kept. Raises ``ValueError`` for a reply without a model list."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("models", []), list):
        raise ValueError("the reply has no list of models ('models')")
    ids = []
    for model in payload.get("models", []):
        if not isinstance(model, Mapping):
            continue
        name = model.get("name")
        methods = model.get("supportedGenerationMethods")
        if not isinstance(name, str) or not isinstance(methods, list) or "generateContent" not in methods:
            continue
        model_id = name.removeprefix("models/")
        if model_id and model_id.isprintable() and len(model_id) <= 256:
            ids.append(model_id)
    token = payload.get("nextPageToken")
    return ids, token if isinstance(token, str) and token else None
