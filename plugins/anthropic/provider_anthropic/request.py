"""The JSON body of ``POST /v1/messages``, from a version-2 ``create_completion`` call.

Pure; no I/O. :func:`build_body` maps the caller's keywords (see ``docs/anthropic.md`` for
the table and the reasons):

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
* ``response_format`` ``json_schema`` -> ``output_config.format`` (structured outputs);
  ``json_object`` (JSON without a schema) has no Anthropic equivalent and is refused;
  ``text`` is the default and sends nothing.

Everything refused raises :class:`~provider_core.errors.InvalidMessages` naming the keyword,
before anything is sent. Keywords not listed are ignored.
"""

from __future__ import annotations

import math
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
    """The request body for ``model``; ``options`` are the caller's keywords."""
    system, turns = translate_messages(messages)
    body: dict[str, Any] = {"model": model, "max_tokens": _max_tokens(options.get("max_tokens"))}
    if system is not None:
        body["system"] = system
    body["messages"] = turns
    info = model_info(model)
    body.update(_sampling(options, info.sampling))
    stop = _stop(options.get("stop"))
    if stop:
        body["stop_sequences"] = stop
    tools = options.get("tools")
    if tools is not None:
        body["tools"] = _tools(tools)
    choice = options.get("tool_choice")
    if choice is not None:
        mapped = _tool_choice(choice, bool(body.get("tools")), info.forced_tools, model)
        if mapped is not None:
            body["tool_choice"] = mapped
    output_format = _response_format(options.get("response_format"), info.json, model)
    if output_format is not None:
        body["output_config"] = {"format": output_format}
    body["stream"] = bool(stream)
    return body


def _refuse(where: str, why: str) -> InvalidMessages:
    return InvalidMessages([(where, why)])


def _number(name: str, value: Any, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _refuse(name, f"must be a number, got {value!r}")
    if not 0 <= value <= high:
        raise _refuse(name, f"must be in [0, {high:g}] for Anthropic, got {value!r}")
    return value


def _max_tokens(value: Any) -> int:
    if value is None:
        return DEFAULT_MAX_TOKENS
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _refuse("max_tokens", f"must be a positive integer, got {value!r}")
    return value


def _sampling(options: Mapping[str, Any], accepted: bool) -> dict[str, float]:
    """``temperature`` / ``top_p``: checked always, sent only where ``accepted``."""
    out = {}
    for name in ("temperature", "top_p"):
        value = options.get(name)
        if value is not None:
            if name == "temperature" and isinstance(value, (int, float)) and 1 < value <= 2:
                raise _refuse(
                    "temperature",
                    f"Anthropic's range is 0 to 1, got {value!r}; the 0-2 scale of OpenAI does not map onto it",
                )
            out[name] = _number(name, value, 1.0)
    if not accepted:
        return {}
    if len(out) == 2:
        raise _refuse("top_p", "give temperature or top_p, not both (Anthropic's current models refuse both)")
    return out


def _stop(stop: Any) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop):
        return list(stop)
    raise _refuse("stop", f"must be a string or a list of strings, got {type(stop).__name__}")


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, (list, tuple)):
        raise _refuse("tools", f"must be a list, got {type(tools).__name__}")
    out = []
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(tool, Mapping) or tool.get("type") != "function" or not isinstance(function, Mapping):
            raise _refuse(f"tools[{index}]", "must be {'type': 'function', 'function': {'name', ...}}")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise _refuse(f"tools[{index}].function.name", "must be a non-empty string")
        mapped: dict[str, Any] = {"name": name}
        description = function.get("description")
        if isinstance(description, str) and description:
            mapped["description"] = description
        schema = function.get("parameters")
        if schema is None:
            schema = {"type": "object", "properties": {}}
        elif not isinstance(schema, Mapping):
            raise _refuse(f"tools[{index}].function.parameters", "must be a JSON Schema object")
        mapped["input_schema"] = dict(schema)
        out.append(mapped)
    return out


def _tool_choice(choice: Any, has_tools: bool, can_force: bool, model: str) -> dict[str, Any] | None:
    if choice == "auto" or choice == "none":
        return {"type": choice} if has_tools else None
    if choice == "required":
        mapped: dict[str, Any] = {"type": "any"}
    elif isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):
        name = choice["function"].get("name")
        if not isinstance(name, str) or not name:
            raise _refuse("tool_choice.function.name", "must be a non-empty string")
        mapped = {"type": "tool", "name": name}
    else:
        raise _refuse("tool_choice", "must be 'auto', 'none', 'required' or {'type': 'function', 'function': {...}}")
    if not has_tools:
        raise _refuse("tool_choice", "forces a tool, but no tools were given")
    if not can_force:
        raise _refuse("tool_choice", f"{model} does not accept a forced tool choice (only 'auto' or 'none')")
    return mapped


def _response_format(value: Any, json_ok: bool, model: str) -> dict[str, Any] | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind == "text":
        return None
    if kind == "json_object":
        raise _refuse(
            "response_format",
            "Anthropic has no JSON mode without a schema; give {'type': 'json_schema', 'json_schema': {...}}",
        )
    if kind != "json_schema":
        raise _refuse("response_format", "must be {'type': 'text' | 'json_object' | 'json_schema', ...}")
    spec = value.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    if not isinstance(schema, Mapping):
        raise _refuse("response_format.json_schema.schema", "is required (a JSON Schema object)")
    if not json_ok:
        raise _refuse("response_format", f"{model} does not support structured outputs")
    return {"type": "json_schema", "schema": dict(schema)}
