"""The request side of the Gemini API wire format: OpenAI-shaped messages and keywords in,
the JSON body of ``generateContent`` / ``streamGenerateContent`` out.

Pure functions over JSON values; no I/O. The reply side is :mod:`provider_gemini.replies`,
error bodies :mod:`provider_gemini.wire_errors`. Anything that cannot be said faithfully in
Gemini's terms is refused with :class:`~provider_core.errors.InvalidMessages` naming the
message and field, before anything is sent. The mapping, in short:

* ``system`` messages -> ``systemInstruction`` (their text joined in order, one blank line
  between messages); ``user`` -> ``user``; ``assistant`` -> ``model``; ``tool`` ->
  a ``functionResponse`` part in a ``user`` turn; consecutive turns of one role merge;
* text parts -> ``{"text"}``; ``data:`` image URLs -> ``inlineData``; ``https`` image URLs
  -> ``fileData`` (the API fetches public and signed URLs) with the MIME type read from the
  URL's file extension; ``detail`` and message ``name`` have no Gemini counterpart (dropped);
* assistant ``tool_calls`` -> ``functionCall`` parts; the first call of each model turn
  carries its thought signature (remembered by the caller) or Google's documented
  placeholder :data:`SKIP_SIGNATURE`, which Gemini 3 requires on replayed calls;
* ``max_tokens``, ``temperature``, ``top_p``, ``stop``, ``seed``, ``response_format`` ->
  ``generationConfig``; ``tools`` -> ``functionDeclarations`` with the caller's JSON
  Schema as ``parametersJsonSchema``; ``tool_choice`` -> ``toolConfig``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any, NoReturn
from urllib.parse import unquote_to_bytes, urlsplit

from provider_core.errors import InvalidMessages

__all__ = [
    "JSON_MIME",
    "SKIP_SIGNATURE",
    "URL_IMAGE_TYPES",
    "build_body",
    "function_declarations",
    "generation_config",
    "image_part",
    "tool_config",
    "translate_messages",
]

#: Google's documented value for a replayed function call whose thought signature is
#: unknown (a history from another provider, or from before this process started).
SKIP_SIGNATURE = "skip_thought_signature_validator"
JSON_MIME = "application/json"
#: File extension -> MIME type for image URLs (the image types the API fetches from URLs).
URL_IMAGE_TYPES = {
    ".bmp": "image/bmp",
    ".jpeg": "image/jpeg",
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}
_TOOL_CHOICES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
#: ``signature_for(call_id)``: the thought signature Gemini sent with that call, if known.
SignatureLookup = Callable[[str], "str | None"]


def _bad(location: str, reason: str) -> NoReturn:
    raise InvalidMessages([(location, reason)])


def build_body(
    messages: list[Any], options: Mapping[str, Any], signature_for: SignatureLookup | None = None
) -> dict[str, Any]:
    """The request body for ``messages`` and the caller's keywords ``options`` (keywords this
    module does not know are ignored; a value of ``None`` counts as absent)."""
    system, contents = translate_messages(messages, signature_for)
    body: dict[str, Any] = {"contents": contents}
    if system is not None:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    config = generation_config(options)
    if config:
        body["generationConfig"] = config
    if options.get("tools") is not None:
        body["tools"] = function_declarations(options["tools"])
    if options.get("tool_choice") is not None:
        body["toolConfig"] = tool_config(options["tool_choice"])
    return body


def translate_messages(
    messages: list[Any], signature_for: SignatureLookup | None = None
) -> tuple[str | None, list[dict[str, Any]]]:
    """``(system instruction text or None, contents)`` for OpenAI-shaped ``messages``."""
    if not isinstance(messages, list) or not messages:
        _bad("messages", "must be a non-empty list")
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    calls: dict[str, str] = {}  # tool_call_id -> function name, from earlier assistant turns
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            _bad(f"messages[{i}]", "must be an object")
        role = message.get("role")
        content = message.get("content")
        if role == "system":
            system.append(_text_only(content, f"messages[{i}].content"))
        elif role == "user":
            _append(contents, "user", _content_parts(content, i))
        elif role == "assistant":
            parts = [] if content is None else _content_parts(content, i, allow_empty=True)
            parts += _call_parts(message.get("tool_calls"), i, calls, signature_for)
            _append(contents, "model", parts or [{"text": ""}])
        elif role == "tool":
            _append(contents, "user", [_response_part(message, i, calls)])
        else:
            _bad(f"messages[{i}].role", f"must be system, user, assistant or tool, got {role!r}")
    for turn in contents:
        if turn["role"] == "model":
            _sign_first_call(turn["parts"])
    return ("\n\n".join(system) if system else None), contents


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    """Add a turn, merged into the previous one when it has the same role."""
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _text_only(content: Any, where: str) -> str:
    """The text of a content that may hold text only (system and tool messages)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        _bad(where, f"must be a string or a list of text parts, got {type(content).__name__}")
    texts = []
    for j, part in enumerate(content):
        if not isinstance(part, Mapping) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            _bad(f"{where}[{j}]", "only text parts can be sent here")
        texts.append(part["text"])
    return "".join(texts)


def _content_parts(content: Any, i: int, *, allow_empty: bool = False) -> list[dict[str, Any]]:
    """Gemini parts for a user or assistant content (a string or a list of parts). Empty
    text parts are dropped; a content left with nothing is one empty text part (or no
    part at all with ``allow_empty``, for an assistant turn that carries tool calls)."""
    where = f"messages[{i}].content"
    if isinstance(content, str):
        raw: list[Any] = [{"type": "text", "text": content}]
    elif isinstance(content, list):
        raw = content
    else:
        _bad(where, f"must be a string or a list of parts, got {type(content).__name__}")
    parts = []
    for j, part in enumerate(raw):
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text" and isinstance(part.get("text"), str):
            if part["text"]:
                parts.append({"text": part["text"]})
        elif kind == "image_url" and isinstance(part.get("image_url"), Mapping):
            parts.append(image_part(part["image_url"].get("url"), f"{where}[{j}].image_url.url"))
        else:
            _bad(f"{where}[{j}]", "must be a text or image_url part")
    if not parts and not allow_empty:
        parts.append({"text": ""})
    return parts


def image_part(url: Any, where: str = "image_url.url") -> dict[str, Any]:
    """The part for an image URL: ``inlineData`` for a ``data:`` URL, ``fileData`` for an
    ``https`` URL whose file extension names an image type (:data:`URL_IMAGE_TYPES`).
    Anything else is refused, saying why."""
    if not isinstance(url, str) or not url:
        _bad(where, "must be a non-empty string")
    if url[:5].lower() == "data:":
        return {"inlineData": _data_url(url, where)}
    parts = urlsplit(url)
    if parts.scheme.lower() == "https" and parts.netloc:
        path = parts.path.lower()
        ext = path[path.rfind(".") :] if "." in path.rsplit("/", 1)[-1] else ""
        mime = URL_IMAGE_TYPES.get(ext)
        if mime is None:
            kinds = ", ".join(sorted(URL_IMAGE_TYPES))
            _bad(where, f"Gemini needs the image type of a URL: use one ending in {kinds}, or a data: URL")
        return {"fileData": {"mimeType": mime, "fileUri": url}}
    _bad(where, "must be a data: URL or an https:// URL (Gemini fetches public and signed https URLs only)")


def _data_url(url: str, where: str) -> dict[str, str]:
    header, comma, data = url[5:].partition(",")
    if not comma:
        _bad(where, "is not a valid data: URL (no comma)")
    params = header.split(";")
    mime = params[0].strip().lower()
    if "/" not in mime:
        _bad(where, "the data: URL must name a MIME type, e.g. data:image/png;base64,...")
    if "base64" in (p.strip().lower() for p in params[1:]):
        return {"mimeType": mime, "data": "".join(data.split())}
    return {"mimeType": mime, "data": base64.b64encode(unquote_to_bytes(data)).decode("ascii")}


def _call_parts(
    tool_calls: Any, i: int, calls: dict[str, str], signature_for: SignatureLookup | None
) -> list[dict[str, Any]]:
    if tool_calls is None:
        return []
    if not isinstance(tool_calls, list):
        _bad(f"messages[{i}].tool_calls", "must be a list")
    parts = []
    for j, call in enumerate(tool_calls):
        where = f"messages[{i}].tool_calls[{j}]"
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            _bad(where, "must be {'id', 'type': 'function', 'function': {'name', 'arguments'}}")
        call_id = call.get("id")
        if isinstance(call_id, str):
            calls[call_id] = function["name"]
        part: dict[str, Any] = {"functionCall": {"name": function["name"], "args": _arguments(function, where)}}
        signature = signature_for(call_id) if signature_for is not None and isinstance(call_id, str) else None
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _arguments(function: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The call's arguments (a JSON string) as an object; empty means no arguments."""
    raw = function.get("arguments", "")
    if isinstance(raw, Mapping):
        return dict(raw)
    if not isinstance(raw, str):
        _bad(f"{where}.function.arguments", f"must be a JSON string, got {type(raw).__name__}")
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        _bad(f"{where}.function.arguments", f"is not valid JSON: {exc}")
    if not isinstance(value, dict):
        _bad(f"{where}.function.arguments", f"must be a JSON object, got a JSON {type(value).__name__}")
    return value


def _sign_first_call(parts: list[dict[str, Any]]) -> None:
    """Gemini 3 wants a thought signature on the first function call of a model turn."""
    for part in parts:
        if "functionCall" in part:
            part.setdefault("thoughtSignature", SKIP_SIGNATURE)
            return


def _response_part(message: Mapping[str, Any], i: int, calls: Mapping[str, str]) -> dict[str, Any]:
    """A tool result as a ``functionResponse`` part: ``name`` is the function of the call it
    answers; ``response`` is the result when it is a JSON object, else ``{"content": text}``."""
    call_id = message.get("tool_call_id")
    name = calls.get(call_id) if isinstance(call_id, str) else None
    if name is None:
        _bad(f"messages[{i}].tool_call_id", f"{call_id!r} matches no tool call of an earlier assistant message")
    text = _text_only(message.get("content"), f"messages[{i}].content")
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    return {"functionResponse": {"name": name, "response": value if isinstance(value, dict) else {"content": text}}}


def generation_config(options: Mapping[str, Any]) -> dict[str, Any]:
    """``generationConfig`` from ``max_tokens``, ``temperature``, ``top_p``, ``stop`` (a
    string becomes a one-item list), ``seed`` and ``response_format``."""
    config: dict[str, Any] = {}
    for key, field in (("max_tokens", "maxOutputTokens"), ("temperature", "temperature"), ("top_p", "topP")):
        if options.get(key) is not None:
            config[field] = options[key]
    stop = options.get("stop")
    if stop is not None:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if options.get("seed") is not None:
        config["seed"] = options["seed"]
    response_format = options.get("response_format")
    if response_format is not None:
        config.update(_response_format(response_format))
    return config


def _response_format(value: Any) -> dict[str, Any]:
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": JSON_MIME}
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, Mapping):
            _bad("response_format.json_schema", "must be an object with a 'schema'")
        out: dict[str, Any] = {"responseMimeType": JSON_MIME}
        if spec.get("schema") is not None:
            out["responseJsonSchema"] = spec["schema"]
        return out
    _bad("response_format", f"type must be text, json_object or json_schema, got {kind!r}")


def function_declarations(tools: Any) -> list[dict[str, Any]]:
    """``tools`` as one Gemini tool holding a ``functionDeclarations`` list. The
    parameters schema goes out unchanged as ``parametersJsonSchema`` (JSON Schema), not
    as ``parameters`` (Google's OpenAPI-subset ``Schema``), so no keyword is lost."""
    if not isinstance(tools, list):
        _bad("tools", "must be a list")
    declarations = []
    for k, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, Mapping) and tool.get("type") == "function" else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            _bad(f"tools[{k}]", "must be {'type': 'function', 'function': {'name', 'description'?, 'parameters'?}}")
        declaration: dict[str, Any] = {"name": function["name"]}
        if function.get("description") is not None:
            declaration["description"] = function["description"]
        if function.get("parameters") is not None:
            declaration["parametersJsonSchema"] = function["parameters"]
        declarations.append(declaration)
    return [{"functionDeclarations": declarations}]


def tool_config(choice: Any) -> dict[str, Any]:
    """``toolConfig.functionCallingConfig`` for an OpenAI ``tool_choice``: ``auto`` ->
    ``AUTO``, ``none`` -> ``NONE``, ``required`` -> ``ANY``, a named function -> ``ANY``
    restricted to it with ``allowedFunctionNames``."""
    if isinstance(choice, str) and choice in _TOOL_CHOICES:
        return {"functionCallingConfig": {"mode": _TOOL_CHOICES[choice]}}
    function = choice.get("function") if isinstance(choice, Mapping) else None
    if isinstance(function, Mapping) and isinstance(function.get("name"), str):
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [function["name"]]}}
    _bad(
        "tool_choice", f"must be auto, none, required or {{'type': 'function', 'function': {{'name'}}}}, got {choice!r}"
    )
