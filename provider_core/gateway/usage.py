"""The usage a reply reports: the provider's token counts, else an estimate.

OpenAI clients read ``usage`` from every non-streamed reply (some fail on ``null``), and
from a stream's last chunk when they asked for ``stream_options.include_usage``. A
provider that reports no counts gets an estimate: about four characters a token, rounded
up, counting the prompt's text (message contents, the tool calls in it, the tool
definitions as JSON) and the reply's text and tool calls. The gateway marks an estimate
(the ``x-provider-core-usage: estimated`` header, or ``provider_core_usage`` in the last
stream chunk).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..events import Usage

__all__ = ["CHARS_PER_TOKEN", "estimate", "reported_or_estimated"]

#: The estimate's rate: about four characters of English text a token.
CHARS_PER_TOKEN = 4


def _tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)


def _prompt_chars(messages: Sequence[Any], options: dict[str, Any]) -> int:
    chars = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            chars += sum(len(p.get("text", "")) for p in content if isinstance(p, dict))
        for call in (message.get("tool_calls") or []) if isinstance(message, dict) else ():
            chars += len(json.dumps(call))
    if options.get("tools"):
        chars += len(json.dumps(options["tools"]))
    return chars


def estimate(messages: Sequence[Any], options: dict[str, Any], completion_chars: int) -> Usage:
    """Estimated counts for a reply of ``completion_chars`` characters to ``messages``."""
    return Usage(_tokens(_prompt_chars(messages, options)), _tokens(completion_chars))


def reported_or_estimated(
    usage: Usage | None, messages: Sequence[Any], options: dict[str, Any], completion_chars: int
) -> tuple[Usage, bool]:
    """``(usage, estimated)``: the provider's counts when it reported them, else :func:`estimate`."""
    if usage is not None:
        return usage, False
    return estimate(messages, options, completion_chars), True
