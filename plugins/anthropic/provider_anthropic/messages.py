"""OpenAI-shaped chat messages -> Anthropic's ``system`` text and ``messages`` list.

Pure functions; no I/O. The messages arrive checked by provider-core (a routed call, or a
direct call through :class:`~provider_core.provider.AbstractProvider`'s wrapper, see
:func:`provider_core.messages.validate_messages`): their shapes are not checked again here.
The translation, message by message:

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

What is valid for provider-core but cannot be sent to Anthropic raises
:class:`~provider_core.errors.InvalidMessages` naming the message (``messages[2]...``): an
image URL that is neither ``http(s)`` nor a base64 data URL, tool-call arguments that are
not a JSON object, an empty ``tool_call_id``, and a list with nothing but system messages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from provider_core.errors import InvalidMessages
from provider_core.secrets import safe_url

__all__ = ["translate_messages"]

Block = dict[str, Any]


class _Bad(Exception):
    """One problem at one location; collected into :class:`InvalidMessages`."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(why)
        self.where = where
        self.why = why


def translate_messages(messages: list[Mapping[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    """``(system, messages)`` for the request body; see the module documentation."""
    system: list[str] = []
    turns: list[tuple[str, list[Block]]] = []
    errors: list[tuple[str, str]] = []
    for index, message in enumerate(messages):
        try:
            role, blocks = _message(f"messages[{index}]", message, system)
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


def _message(where: str, message: Mapping[str, Any], system: list[str]) -> tuple[str, list[Block]]:
    role = message["role"]
    content = message.get("content")
    if role == "system":
        system.extend(b["text"] for b in _content(where, content))
        return "system", []
    if role == "user":
        return "user", _content(where, content)
    if role == "assistant":
        blocks = _content(where, content)
        for number, call in enumerate(message.get("tool_calls") or ()):
            blocks.append(_tool_use(f"{where}.tool_calls[{number}]", call))
        return "assistant", blocks
    return "user", _tool_result(where, message, content)


def _content(where: str, content: Any) -> list[Block]:
    """The blocks of a message's content: ``None``, a ``str`` or a list of parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return _text_block(content)
    blocks: list[Block] = []
    for number, part in enumerate(content):
        if part["type"] == "text":
            blocks.extend(_text_block(part["text"]))
        else:  # image_url: the core lets images into user messages only
            blocks.append(_image(f"{where}.content[{number}].image_url.url", part["image_url"]["url"]))
    return blocks


def _text_block(text: str) -> list[Block]:
    return [{"type": "text", "text": text}] if text.strip() else []


def _image(where: str, url: str) -> Block:
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    if url.startswith("data:"):
        header, comma, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if comma and encoding == "base64" and media_type and data:
            return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
        raise _Bad(where, "a data URL must look like data:image/png;base64,<data>")
    raise _Bad(where, f"must be a data: or http(s) URL, got {safe_url(url)[:40]!r}")  # no password, if any


def _tool_use(where: str, call: Mapping[str, Any]) -> Block:
    function = call["function"]
    return {"type": "tool_use", "id": call["id"], "name": function["name"], "input": _arguments(where, function)}


def _arguments(where: str, function: Mapping[str, Any]) -> dict[str, Any]:
    arguments = function["arguments"]
    if not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError as exc:
        raise _Bad(f"{where}.function.arguments", f"is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise _Bad(f"{where}.function.arguments", f"must be a JSON object for Anthropic, got {type(value).__name__}")
    return value


def _tool_result(where: str, message: Mapping[str, Any], content: Any) -> list[Block]:
    call_id = message.get("tool_call_id")
    if call_id is None:
        return _content(where, content)  # the older shape: no call to tie it to
    if not call_id:
        raise _Bad(f"{where}.tool_call_id", "must not be empty: Anthropic ties a tool result to its call by id")
    block: Block = {"type": "tool_result", "tool_use_id": call_id}
    if isinstance(content, str):
        if content:
            block["content"] = content
    else:
        parts = _content(where, content)
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
