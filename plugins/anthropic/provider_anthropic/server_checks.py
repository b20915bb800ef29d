"""What the loopback server checks in a ``POST /v1/messages`` body, as Anthropic does.

:func:`check_body` returns the first problem as Anthropic would word its
``invalid_request_error`` (``messages.1.content.0: ...``), or ``None``. It checks what the
plugin must get right: the required fields, the roles and their alternation, non-empty
text, the block shapes, tool results answering the tool calls of the turn before (and
coming first in their turn), the sampling ranges, tools, ``tool_choice`` and
``output_config``. It is stricter than Anthropic in one place: consecutive turns of one
role are refused, where Anthropic merges them, so a plugin that forgets to merge is caught.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["check_body"]

_BLOCKS = {"text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking", "document"}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_body(body: Any) -> str | None:
    """The first problem with a Messages API request body, or ``None``."""
    if not isinstance(body, Mapping):
        return "the body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    tokens = body.get("max_tokens")
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
        return "max_tokens: Field required (a positive integer)"
    problem = _check_system(body.get("system")) or _check_messages(body.get("messages"))
    if problem:
        return problem
    for name in ("temperature", "top_p"):
        if name in body and (not _number(body[name]) or not 0 <= body[name] <= 1):
            return f"{name}: Input should be less than or equal to 1"
    stops = body.get("stop_sequences", [])
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        return "stop_sequences: Input should be a list of non-empty strings"
    return _check_tools(body.get("tools"), body.get("tool_choice")) or _check_output(body.get("output_config"))


def _check_system(system: Any) -> str | None:
    if system is None or (isinstance(system, str) and system):
        return None
    if isinstance(system, list) and all(isinstance(b, Mapping) and b.get("type") == "text" for b in system):
        return None
    return "system: Input should be a non-empty string or a list of text blocks"


def _check_messages(messages: Any) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "messages: Field required (at least one message)"
    previous: Mapping[str, Any] | None = None
    for index, message in enumerate(messages):
        at = f"messages.{index}"
        if not isinstance(message, Mapping) or message.get("role") not in ("user", "assistant"):
            return f"{at}.role: Input should be 'user' or 'assistant'"
        if previous is not None and previous["role"] == message["role"]:
            return f"{at}: roles must alternate between 'user' and 'assistant' (the loopback server does not merge)"
        content = message.get("content")
        if isinstance(content, str):
            if not content.strip() and index != len(messages) - 1:
                return (
                    "messages: all messages must have non-empty content except for the optional final assistant message"
                )
        elif not isinstance(content, list) or not content:
            return f"{at}.content: Input should be a non-empty string or a non-empty list of blocks"
        else:
            problem = _check_blocks(at, message["role"], content, previous)
            if problem:
                return problem
        previous = message
    return None


def _tool_ids(message: Mapping[str, Any] | None) -> set[str]:
    if message is None or not isinstance(message.get("content"), list):
        return set()
    return {b.get("id") for b in message["content"] if isinstance(b, Mapping) and b.get("type") == "tool_use"}


def _check_blocks(at: str, role: str, content: list[Any], previous: Mapping[str, Any] | None) -> str | None:
    open_calls = _tool_ids(previous) if role == "user" else set()
    leading = True
    for number, block in enumerate(content):
        where = f"{at}.content.{number}"
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind not in _BLOCKS:
            return f"{where}.type: Input tag {kind!r} does not match any of the expected tags"
        if kind == "text" and (not isinstance(block.get("text"), str) or not block["text"].strip()):
            return f"{where}: text content blocks must contain non-whitespace text"
        if kind == "image" and role != "user":
            return f"{where}: image blocks are only allowed in user messages"
        if kind == "image":
            source = block.get("source")
            if not isinstance(source, Mapping) or source.get("type") not in ("base64", "url"):
                return f"{where}.source: Input should be a base64 or url image source"
        if kind == "tool_use" and (role != "assistant" or not isinstance(block.get("input"), Mapping)):
            return f"{where}: tool_use blocks are assistant blocks with an object input"
        if kind == "tool_result":
            if role != "user" or not leading:
                return f"{where}: tool_result blocks must come first in a user message"
            if block.get("tool_use_id") not in open_calls:
                return f"{where}: unexpected tool_use_id found in tool_result blocks: {block.get('tool_use_id')}"
            open_calls.discard(block["tool_use_id"])
        leading = leading and kind == "tool_result"
    if role == "user" and open_calls and any(b.get("type") == "tool_result" for b in content):
        return f"{at}: tool_use ids were found without tool_result blocks immediately after: {sorted(open_calls)}"
    return None


def _check_tools(tools: Any, choice: Any) -> str | None:
    names: set[str] = set()
    if tools is not None:
        if not isinstance(tools, list):
            return "tools: Input should be a list"
        for index, tool in enumerate(tools):
            schema = tool.get("input_schema") if isinstance(tool, Mapping) else None
            if (
                not isinstance(tool.get("name"), str)
                or not isinstance(schema, Mapping)
                or schema.get("type") != "object"
            ):
                return f"tools.{index}: a tool needs a name and an input_schema of type object"
            names.add(tool["name"])
    if choice is None:
        return None
    kind = choice.get("type") if isinstance(choice, Mapping) else None
    if kind not in ("auto", "any", "tool", "none"):
        return "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"
    if kind == "tool" and choice.get("name") not in names:
        return f"tool_choice.name: no tool named {choice.get('name')!r}"
    return None


def _check_output(config: Any) -> str | None:
    if config is None:
        return None
    fmt = config.get("format") if isinstance(config, Mapping) else None
    if not isinstance(fmt, Mapping) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), Mapping):
        return "output_config.format: Input should be {'type': 'json_schema', 'schema': {...}}"
    return None
