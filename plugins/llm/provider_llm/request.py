"""From a provider-core request (OpenAI-shaped messages and keywords) to the arguments of
llm's ``model.prompt()``.

Messages: the last message, when it is the user's, becomes the prompt (its text) and its
attachments (its images); every system message's text, joined, becomes ``system``; the
turns before the last one (system messages in place, assistant tool calls, tool results)
become llm's ``messages=`` history (left out when they are only system messages: llm
builds the same turn from ``system`` and the prompt). A plugin written for llm's
``messages=`` sees the whole conversation; an older one (reading only ``prompt.prompt`` /
``prompt.system``) sees the system prompt and the last user message.

Keywords: ``temperature``, ``top_p``, ``max_tokens`` (or the model's ``max_output_tokens``
/ ``max_completion_tokens``), ``stop`` (or ``stop_sequences``), ``seed``,
``frequency_penalty`` and ``presence_penalty`` go to the llm option of that name where
the model has one, and are dropped where it has none; ``llm_options`` (a dict) is passed
as the model's own options. ``tools`` become llm tools (definitions only: the caller runs
them), ``tool_choice`` ``"none"`` sends no tools (other choices are not expressible in
llm and are dropped); ``response_format`` ``json_schema`` becomes llm's ``schema``,
``json_object`` the model's ``json_object`` option or, without one, an object schema.

A request needing what its model cannot do (tools, images, a schema, a conversation for a
one-turn model) raises :class:`~provider_core.errors.ModelNotSupported` naming the model
and what it lacks, before anything is sent; routing then tries the next candidate.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from provider_core.errors import InvalidMessages, ModelNotSupported

from .index import ModelEntry

__all__ = ["OPTION_NAMES", "LlmRequest", "build_request"]

#: provider-core keyword -> the llm option names it may go to, in order of preference.
OPTION_NAMES: dict[str, tuple[str, ...]] = {
    "temperature": ("temperature",),
    "top_p": ("top_p",),
    "max_tokens": ("max_tokens", "max_output_tokens", "max_completion_tokens"),
    "stop": ("stop", "stop_sequences"),
    "seed": ("seed",),
    "frequency_penalty": ("frequency_penalty",),
    "presence_penalty": ("presence_penalty",),
}


@dataclass
class LlmRequest:
    """The keyword arguments for ``model.prompt()`` (:meth:`prompt_kwargs`)."""

    prompt: str | None = None
    system: str | None = None
    attachments: list[Any] = field(default_factory=list)
    messages: list[Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    tools: list[Any] = field(default_factory=list)
    schema: dict[str, Any] | None = None

    def prompt_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"prompt": self.prompt, "system": self.system, "options": self.options}
        if self.attachments:
            kwargs["attachments"] = self.attachments
        if self.messages is not None:
            kwargs["messages"] = self.messages
        if self.tools:
            kwargs["tools"] = self.tools
        if self.schema is not None:
            kwargs["schema"] = self.schema
        return kwargs


def _lacks(entry: ModelEntry, provider: str, what: str) -> ModelNotSupported:
    return ModelNotSupported(entry.id, provider=provider, reason=f"{provider}: llm model {entry.id!r} {what}")


def _attachment(url: str, where: str) -> Any:
    from llm import Attachment

    if url.startswith("data:"):
        head, _, data = url[5:].partition(",")
        mime = head.split(";", 1)[0] or "application/octet-stream"
        try:
            content = base64.b64decode(data, validate=True) if ";base64" in head else data.encode("utf-8")
        except (binascii.Error, ValueError):
            raise InvalidMessages([(where, "the data URL is not valid base64")]) from None
        return Attachment(type=mime, content=content)
    guessed = mimetypes.guess_type(url.split("?", 1)[0])[0]
    return Attachment(type=guessed if guessed and guessed.startswith("image/") else "image/jpeg", url=url)


def _content(content: Any, where: str) -> tuple[list[str], list[Any]]:
    """The texts and the attachments of one message's content."""
    if content is None:
        return [], []
    if isinstance(content, str):
        return [content], []
    texts, images = [], []
    for i, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            texts.append(part.get("text", ""))
        elif kind == "image_url":
            url = part.get("image_url", {}).get("url", "")
            images.append(_attachment(url, f"{where}.content[{i}].image_url.url"))
    return texts, images


def _arguments(raw: Any, where: str) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        value = json.loads(raw or "{}")
    except (TypeError, ValueError):
        raise InvalidMessages([(where, "the tool call's arguments are not JSON")]) from None
    if not isinstance(value, dict):
        raise InvalidMessages([(where, "the tool call's arguments must be a JSON object")])
    return value


def _llm_message(message: Mapping[str, Any], index: int, names: dict[str, str]) -> Any:
    """One message as an :class:`llm.parts.Message`; ``names`` maps tool call ids to the
    names of the tools they called (a tool result names its tool in llm)."""
    from llm.parts import AttachmentPart, Message, TextPart, ToolCallPart, ToolResultPart

    where = f"messages[{index}]"
    role = message["role"]
    texts, images = _content(message.get("content"), where)
    if role == "tool":
        call_id = message.get("tool_call_id")
        name = names.get(call_id or "", message.get("name", ""))
        return Message(role="tool", parts=[ToolResultPart(name=name, output="".join(texts), tool_call_id=call_id)])
    parts: list[Any] = [TextPart(text=t) for t in texts if t]
    parts += [AttachmentPart(attachment=a) for a in images]
    for j, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function", {})
        names[call.get("id", "")] = function.get("name", "")
        arguments = _arguments(function.get("arguments"), f"{where}.tool_calls[{j}].function.arguments")
        parts.append(ToolCallPart(name=function.get("name", ""), arguments=arguments, tool_call_id=call.get("id")))
    return Message(role=role, parts=parts)


def _tools(options: Mapping[str, Any]) -> list[Any]:
    from llm import Tool

    if options.get("tool_choice") == "none":
        return []
    tools = []
    for spec in options.get("tools") or ():
        function = spec.get("function", spec) if isinstance(spec, Mapping) else {}
        tools.append(
            Tool(
                name=function.get("name", ""),
                description=function.get("description"),
                input_schema=dict(function.get("parameters") or {"type": "object", "properties": {}}),
            )
        )
    return tools


def _options(model: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    fields = set(getattr(getattr(model, "Options", None), "model_fields", {}) or {})
    chosen: dict[str, Any] = {}
    for keyword, names in OPTION_NAMES.items():
        if keyword not in options or options[keyword] is None:
            continue
        target = next((n for n in names if n in fields), None)
        if target is None:
            continue
        value = options[keyword]
        if keyword == "stop" and isinstance(value, list) and len(value) == 1 and target == "stop":
            value = value[0]
        chosen[target] = value
    extra = options.get("llm_options")
    if extra is not None and not isinstance(extra, Mapping):
        raise InvalidMessages([("llm_options", "must be a dict of the llm model's options")])
    chosen.update(extra or {})
    return chosen


def _schema(entry: ModelEntry, provider: str, model: Any, request: LlmRequest, fmt: Any) -> None:
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if kind in (None, "text"):
        return
    fields = set(getattr(getattr(model, "Options", None), "model_fields", {}) or {})
    if kind == "json_object" and "json_object" in fields:
        request.options.setdefault("json_object", True)
        return
    if not entry.schema:
        raise _lacks(entry, provider, "does not support JSON output (schemas)")
    schema = fmt.get("json_schema", {}).get("schema") if kind == "json_schema" else None
    request.schema = dict(schema) if isinstance(schema, Mapping) else {"type": "object"}


def build_request(
    entry: ModelEntry, model: Any, provider: str, messages: Sequence[Mapping[str, Any]], options: Mapping[str, Any]
) -> LlmRequest:
    """The :class:`LlmRequest` for ``messages`` and ``options`` to llm model ``model``
    (described by ``entry``), or the error saying why it cannot take them."""
    request = LlmRequest(options=_options(model, options), tools=_tools(options))
    if request.tools and not entry.tools:
        raise _lacks(entry, provider, "does not support tools")
    _schema(entry, provider, model, request, options.get("response_format"))
    history = list(messages)
    last = history[-1] if history and history[-1]["role"] == "user" else None
    if last is not None:
        history.pop()
        texts, request.attachments = _content(last.get("content"), f"messages[{len(history)}]")
        request.prompt = "\n".join(texts)
    names: dict[str, str] = {}
    turns = [_llm_message(m, i, names) for i, m in enumerate(history)]
    images = request.attachments or any(
        getattr(p, "attachment", None) is not None for turn in turns for p in getattr(turn, "parts", ())
    )
    if images and not entry.vision:
        raise _lacks(entry, provider, "does not take images")
    systems = ["".join(_content(m.get("content"), "")[0]) for m in messages if m["role"] == "system"]
    request.system = "\n\n".join(s for s in systems if s) or None
    if any(m["role"] in ("assistant", "tool") for m in history) and not entry.conversation:
        raise _lacks(entry, provider, "takes one turn only (no assistant or tool messages)")
    if last is None or any(m["role"] != "system" for m in history):
        request.messages = turns  # else llm builds the same turn from system and prompt
    return request
