"""The JSON body of ``POST /v1/messages``, from a version-2 ``create_completion`` call.

Pure; no I/O. The keywords arrive checked by provider-core
(:func:`provider_core.options.validate_options`: types, ranges, shapes, tool names, a
named ``tool_choice`` among the tools); only what Anthropic itself cannot take is refused
here. :func:`build_body` maps them (see ``docs/anthropic.md`` for the table and the reasons):

* ``max_tokens`` -> ``max_tokens``, always sent (Anthropic requires it):
  :data:`DEFAULT_MAX_TOKENS` when the caller gives none;
* ``temperature`` (Anthropic's range is 0..1: a value above 1 is refused) and ``top_p``
  (not both) -> sent to models that accept sampling parameters, left out for the others
  (they answer 400 to any non-default value);
* ``stop`` -> ``stop_sequences`` (a ``str`` becomes a one-item list);
* ``seed`` -> dropped (the API has no seed);
* ``tools`` -> ``[{"name", "description", "input_schema"}]``; ``tool_choice`` ->
  ``{"type": "auto" | "none" | "any" | "tool", "name"}``; forcing a tool on a model that
  cannot be forced is refused;
* ``response_format`` ``json_schema`` -> ``output_config.format`` (structured outputs; a
  schema is required); ``json_object`` (JSON without a schema) has no Anthropic
  equivalent and is refused; ``text`` is the default and sends nothing.

Everything refused raises :class:`~provider_core.errors.InvalidMessages` naming the keyword,
before anything is sent. Keywords not listed are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provider_core.errors import InvalidMessages

from .messages import translate_messages
from .models import model_info

__all__ = ["DEFAULT_MAX_TOKENS", "build_body"]

#: ``max_tokens`` when the caller gives none. Anthropic requires the field; it is a cap,
#: not a cost (billing counts the tokens written). It is generous because on current models
#: thinking is on and its tokens count against the cap: a small cap cuts replies short.
#: Every shipped model allows at least 64K output tokens.
DEFAULT_MAX_TOKENS = 16000


def build_body(model: str, messages: Any, stream: bool, options: Mapping[str, Any]) -> dict[str, Any]:
    """The request body for ``model``; ``options`` are the caller's (checked) keywords."""
    system, turns = translate_messages(messages)
    body: dict[str, Any] = {"model": model, "max_tokens": options.get("max_tokens") or DEFAULT_MAX_TOKENS}
    if system is not None:
        body["system"] = system
    body["messages"] = turns
    info = model_info(model)
    body.update(_sampling(options, info.sampling))
    stop = options.get("stop")
    if stop is not None:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    tools = options.get("tools")
    if tools:
        body["tools"] = [_tool(tool["function"]) for tool in tools]
    choice = options.get("tool_choice")
    if choice is not None:
        mapped = _tool_choice(choice, bool(tools), info.forced_tools, model)
        if mapped is not None:
            body["tool_choice"] = mapped
    output_format = _response_format(options.get("response_format"), info.json, model)
    if output_format is not None:
        body["output_config"] = {"format": output_format}
    body["stream"] = stream
    return body


def _refuse(where: str, why: str) -> InvalidMessages:
    return InvalidMessages([(where, why)])


def _sampling(options: Mapping[str, Any], accepted: bool) -> dict[str, float]:
    """``temperature`` / ``top_p``: Anthropic's range checked always, sent only where ``accepted``."""
    out = {name: options[name] for name in ("temperature", "top_p") if options.get(name) is not None}
    temperature = out.get("temperature")
    if temperature is not None and temperature > 1:
        raise _refuse(
            "temperature",
            f"Anthropic's range is 0 to 1, got {temperature!r}; the 0-2 scale of OpenAI does not map onto it",
        )
    if not accepted:
        return {}
    if len(out) == 2:
        raise _refuse("top_p", "give temperature or top_p, not both (Anthropic's current models refuse both)")
    return out


def _tool(function: Mapping[str, Any]) -> dict[str, Any]:
    mapped: dict[str, Any] = {"name": function["name"]}
    if function.get("description"):
        mapped["description"] = function["description"]
    schema = function.get("parameters")
    mapped["input_schema"] = dict(schema) if schema is not None else {"type": "object", "properties": {}}
    return mapped


def _tool_choice(choice: Any, has_tools: bool, can_force: bool, model: str) -> dict[str, Any] | None:
    if choice == "auto" or choice == "none":
        return {"type": choice} if has_tools else None
    # "required" or a named function: the core has checked that tools are given
    mapped = {"type": "any"} if choice == "required" else {"type": "tool", "name": choice["function"]["name"]}
    if not can_force:
        raise _refuse("tool_choice", f"{model} does not accept a forced tool choice (only 'auto' or 'none')")
    return mapped


def _response_format(value: Any, json_ok: bool, model: str) -> dict[str, Any] | None:
    if value is None or value["type"] == "text":
        return None
    if value["type"] == "json_object":
        raise _refuse(
            "response_format",
            "Anthropic has no JSON mode without a schema; give {'type': 'json_schema', 'json_schema': {...}}",
        )
    schema = value["json_schema"].get("schema")
    if schema is None:
        raise _refuse("response_format.json_schema.schema", "is required by Anthropic (a JSON Schema object)")
    if not json_ok:
        raise _refuse("response_format", f"{model} does not support structured outputs")
    return {"type": "json_schema", "schema": dict(schema)}
