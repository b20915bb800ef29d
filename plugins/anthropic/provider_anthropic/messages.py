"""OpenAI-shaped chat messages -> Anthropic's ``system`` text and ``messages`` list.

Pure functions; no I/O. The translation, message by message:

* ``system`` messages (anywhere in the list) are taken out; their text, in order, joined
  with a blank line, becomes the top-level ``system`` field;
* ``user`` content: a ``str`` or text parts -> text blocks; ``image_url`` parts -> image
  blocks (a ``data:<type>;base64,<data>`` URL -> a base64 source, an ``http(s)`` URL -> a
  URL source; ``detail`` has no Anthropic equivalent and is dropped);
* ``assistant``: its text -> text blocks, each of its ``tool_calls`` -> a ``tool_use``
  block (``id`` unchanged, ``input`` = the arguments JSON parsed, which must be an object;
  empty arguments mean ``{}``); empty or ``None`` content adds no text block;
* ``tool``: a ``tool_result`` block (``tool_use_id`` = ``tool_call_id``, the content as
  given) in a user turn; a tool message without ``tool_call_id`` (the older shape) cannot
  be tied to a tool call and is sent as the user's text;
* a message's ``name`` has no Anthropic equivalent and is dropped;
* text blocks that are empty or only whitespace are dropped (Anthropic refuses them), and
  so is a message left with no block;
* consecutive turns of one role are merged into one message (Anthropic requires user and
  assistant turns to alternate); in a merged user turn the ``tool_result`` blocks come
  first, in order, then the rest (Anthropic requires tool results to lead the turn).

Anything that is not one of these shapes raises
:class:`~provider_core.errors.InvalidMessages` naming the message (``messages[2]...``):
the core validates messages before a routed call, so this matters for direct calls.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from provider_core.errors import InvalidMessages

__all__ = ["translate_messages"]

Block = dict[str, Any]
_ROLES = ("system", "user", "assistant", "tool")


class _Bad(Exception):
    """One problem at one location; collected into :class:`InvalidMessages`."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(why)
        self.where = where
        self.why = why


def translate_messages(messages: Any) -> tuple[str | None, list[dict[str, Any]]]:
    """``(system, messages)`` for the request body; see the module documentation."""
    if not isinstance(messages, Sequence) or isinstance(messages, (str, bytes)):
        raise InvalidMessages([("messages", f"must be a list of messages, got {type(messages).__name__}")])
    if not messages:
        raise InvalidMessages([("messages", "at least one message is required")])
    system: list[str] = []
    turns: list[tuple[str, list[Block]]] = []
    errors: list[tuple[str, str]] = []
    for index, message in enumerate(messages):
        try:
            role, blocks = _message(index, message, system)
        except _Bad as bad:
            errors.append((bad.where, bad.why))
            continue
        if blocks:
            turns.append((role, blocks))
    if errors:
        raise InvalidMessages(errors)
    merged = _merge(turns)
    if not merged:
        raise InvalidMessages([("messages", "no user, assistant or tool message with content (Anthropic needs one)")])
    return ("\n\n".join(system) if system else None), merged


def _message(index: int, message: Any, system: list[str]) -> tuple[str, list[Block]]:
    where = f"messages[{index}]"
    if not isinstance(message, Mapping):
        raise _Bad(where, f"must be an object, got {type(message).__name__}")
    role = message.get("role")
    if role not in _ROLES:
        raise _Bad(f"{where}.role", f"must be one of {', '.join(_ROLES)}, got {role!r}")
    content = message.get("content")
    tool_calls = message.get("tool_calls")
    if "content" not in message and not (role == "assistant" and tool_calls):
        raise _Bad(f"{where}.content", "is required")
    if role == "system":
        system.extend(b["text"] for b in _content(where, content, images=False))
        return "system", []
    if role == "user":
        return "user", _content(where, content, images=True)
    if role == "assistant":
        blocks = [] if content is None else _content(where, content, images=False)
        if tool_calls is not None:
            blocks.extend(_tool_uses(where, tool_calls))
        return "assistant", blocks
    return "user", _tool_result(where, message, content)


def _content(where: str, content: Any, *, images: bool) -> list[Block]:
    """The blocks of a message's content: a ``str`` or a list of parts."""
    if isinstance(content, str):
        return _text_block(content)
    if not isinstance(content, list):
        raise _Bad(f"{where}.content", f"must be a string or a list of parts, got {type(content).__name__}")
    blocks: list[Block] = []
    for number, part in enumerate(content):
        at = f"{where}.content[{number}]"
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text" and isinstance(part.get("text"), str):
            blocks.extend(_text_block(part["text"]))
        elif kind == "image_url" and images:
            blocks.append(_image(at, part.get("image_url")))
        elif kind == "image_url":
            raise _Bad(at, "an image is only accepted in user and tool messages")
        else:
            raise _Bad(at, "must be {'type': 'text', 'text': str} or {'type': 'image_url', 'image_url': {'url': str}}")
    return blocks


def _text_block(text: str) -> list[Block]:
    return [{"type": "text", "text": text}] if text.strip() else []


def _image(where: str, image: Any) -> Block:
    url = image.get("url") if isinstance(image, Mapping) else None
    if not isinstance(url, str):
        raise _Bad(f"{where}.image_url.url", "is required (a data: or http(s) URL)")
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    if url.startswith("data:"):
        header, comma, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if comma and encoding == "base64" and media_type and data:
            return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
        raise _Bad(f"{where}.image_url.url", "a data URL must look like data:image/png;base64,<data>")
    raise _Bad(f"{where}.image_url.url", f"must be a data: or http(s) URL, got {url[:40]!r}")


def _tool_uses(where: str, tool_calls: Any) -> list[Block]:
    if not isinstance(tool_calls, list):
        raise _Bad(f"{where}.tool_calls", "must be a list")
    blocks = []
    for number, call in enumerate(tool_calls):
        at = f"{where}.tool_calls[{number}]"
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(call.get("id"), str):
            raise _Bad(at, "must be {'id': str, 'type': 'function', 'function': {'name', 'arguments'}}")
        name, arguments = function.get("name"), function.get("arguments", "")
        if not isinstance(name, str) or not name:
            raise _Bad(f"{at}.function.name", "must be a non-empty string")
        blocks.append({"type": "tool_use", "id": call["id"], "name": name, "input": _arguments(at, arguments)})
    return blocks


def _arguments(where: str, arguments: Any) -> dict[str, Any]:
    if isinstance(arguments, Mapping):
        return dict(arguments)
    if not isinstance(arguments, str):
        raise _Bad(f"{where}.function.arguments", f"must be a JSON string, got {type(arguments).__name__}")
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError as exc:
        raise _Bad(f"{where}.function.arguments", f"is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise _Bad(f"{where}.function.arguments", f"must be a JSON object, got {type(value).__name__}")
    return value


def _tool_result(where: str, message: Mapping[str, Any], content: Any) -> list[Block]:
    call_id = message.get("tool_call_id")
    if call_id is None:
        return _content(where, content, images=True)  # the older shape: no call to tie it to
    if not isinstance(call_id, str) or not call_id:
        raise _Bad(f"{where}.tool_call_id", "must be a non-empty string")
    block: Block = {"type": "tool_result", "tool_use_id": call_id}
    if isinstance(content, str):
        if content:
            block["content"] = content
    elif content is not None:
        parts = _content(where, content, images=True)
        if parts:
            block["content"] = parts
    return [block]


def _merge(turns: list[tuple[str, list[Block]]]) -> list[dict[str, Any]]:
    merged: list[dict[str, Any]] = []
    for role, blocks in turns:
        if merged and merged[-1]["role"] == role:
            merged[-1]["content"].extend(blocks)
        else:
            merged.append({"role": role, "content": list(blocks)})
    for message in merged:
        if message["role"] == "user":
            content = message["content"]
            results = [b for b in content if b["type"] == "tool_result"]
            if results and len(results) != len(content):
                message["content"] = results + [b for b in content if b["type"] != "tool_result"]
    return merged
